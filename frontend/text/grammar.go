package text

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The lexer keeps sigils and names together (%h, @fc1.weight, %"onnx::MatMul_12") so that
// "% h" is not a reference, and lexes "-inf" as one float; bare inf and nan are identifiers
// that the builder reads as floats where a number is expected.
var textLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `#[^\n]*`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "Local", Pattern: `%([A-Za-z_][A-Za-z0-9_.]*|"(\\.|[^"\\])*")`},
	{Name: "Global", Pattern: `@([A-Za-z_][A-Za-z0-9_.]*|"(\\.|[^"\\])*")`},
	{Name: "Arrow", Pattern: `->`},
	{Name: "Float", Pattern: `-?(\d+\.\d*([eE][-+]?\d+)?|\d+[eE][-+]?\d+)|-inf`},
	{Name: "Int", Pattern: `-?\d+`},
	{Name: "String", Pattern: `"(\\.|[^"\\])*"`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_.]*`},
	{Name: "Punct", Pattern: `[(){}\[\],:=?]`},
})

// The AST mirrors the text closely; the builder (parse.go) turns it into an ir.Graph.
// Names are kept as written (quoted names still quoted) and unquoted by the builder so
// that a bad escape is reported at its position.

type model struct {
	Pos   lexer.Position
	Graph *graphDef `parser:"@@"`
}

type graphDef struct {
	Pos     lexer.Position
	Name    *label   `parser:"'graph' @@"`
	Inputs  []*param `parser:"'(' ( @@ ( ',' @@ )* )? ')'"`
	Outputs []*param `parser:"'->' '(' ( @@ ( ',' @@ )* )? ')'"`
	Stmts   []*stmt  `parser:"'{' @@* '}'"`
}

type label struct {
	Pos   lexer.Position
	Ident string `parser:"  @Ident"`
	Quote string `parser:"| @String"`
}

type param struct {
	Pos  lexer.Position
	Name *label   `parser:"@@"`
	Type *typeDef `parser:"( ':' @@ )?"`
}

type typeDef struct {
	Pos   lexer.Position
	DType string `parser:"@Ident"`
	Dims  []*dim `parser:"'[' ( @@ ( ',' @@ )* )? ']'"`
}

type dim struct {
	Pos     lexer.Position
	Size    *string `parser:"  @Int"`
	Name    string  `parser:"| @Ident"`
	Quote   string  `parser:"| @String"`
	Unknown bool    `parser:"| @'?'"`
}

type stmt struct {
	Pos     lexer.Position
	Weights *weightsDecl `parser:"  @@"`
	Const   *constDecl   `parser:"| @@"`
	Node    *nodeDef     `parser:"| @@"`
}

type weightsDecl struct {
	Pos  lexer.Position
	File string `parser:"'weights' @String"`
}

type constDecl struct {
	Pos   lexer.Position
	Name  string   `parser:"@Global"`
	Type  *typeDef `parser:"( ':' @@ )?"`
	Value *literal `parser:"( '=' @@ )?"`
}

type nodeDef struct {
	Pos     lexer.Position
	Outputs []*output `parser:"@@ ( ',' @@ )*"`
	Call    *call     `parser:"'=' @@"`
	Meta    []*meta   `parser:"( '[' @@ ( ',' @@ )* ']' )?"`
}

type output struct {
	Pos  lexer.Position
	Skip bool     `parser:"  @'_'"`
	Name string   `parser:"| @Local"`
	Type *typeDef `parser:"  ( ':' @@ )?"`
}

type call struct {
	Pos   lexer.Position
	Op    *label  `parser:"@@"`
	Args  []*arg  `parser:"'(' ( @@ ( ',' @@ )* )? ')'"`
	Attrs []*attr `parser:"( '{' ( @@ ( ',' @@ )* )? '}' )?"`
}

type arg struct {
	Pos    lexer.Position
	Skip   bool   `parser:"  @'_'"`
	Local  string `parser:"| @Local"`
	Global string `parser:"| @Global"`
	Call   *call  `parser:"| @@"`
}

type attr struct {
	Pos   lexer.Position
	Name  *label     `parser:"@@ ':'"`
	Value *attrValue `parser:"@@"`
}

// attrValue is an attribute value: a nested graph, a tensor (type then data), or a literal.
type attrValue struct {
	Pos     lexer.Position
	Graph   *graphDef `parser:"  @@"`
	Tensor  *typeDef  `parser:"| ( (?= Ident '[' ) @@"`
	Data    *literal  `parser:"    @@ )"`
	Literal *literal  `parser:"| @@"`
}

// literal is a scalar element or a flat list of them.
type literal struct {
	Pos    lexer.Position
	IsList bool    `parser:"(  @'['"`
	List   []*elem `parser:"   ( @@ ( ',' @@ )* )? ']'"`
	Scalar *elem   `parser:"| @@ )"`
}

type elem struct {
	Pos   lexer.Position
	Float *string `parser:"  @Float"`
	Int   *string `parser:"| @Int"`
	Str   *string `parser:"| @String"`
	Ident *string `parser:"| @Ident"`
}

type meta struct {
	Pos   lexer.Position
	Key   string `parser:"@Ident ':'"`
	Value string `parser:"@String"`
}

var parser = participle.MustBuild[model](
	participle.Lexer(textLexer),
	participle.Elide("Comment", "Whitespace"),
	participle.UseLookahead(0),
)

// Grammar returns the grammar of the Ciuic model language in EBNF, as participle sees it.
// docs/language.md embeds it; a test keeps the two equal.
func Grammar() string { return parser.String() }
