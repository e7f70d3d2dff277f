// Package text reads the Ciuic model language (.ciu files) and produces a type-checked,
// verified ir.Graph. The language is ciuic's IR written down: ir.Print writes the same
// form, and parsing a printed graph gives the graph back (print, parse, print is stable).
//
//	graph mlp(x: f32[N, 784]) -> (y: f32[N, 10]) {
//	  weights "mlp.safetensors"
//	  %h = Relu(Add(MatMul(%x, @fc1.weight), @fc1.bias))
//	  %y = Add(MatMul(%h, @fc2.weight), @fc2.bias)
//	}
//
// Nested calls are flattened into separate nodes; weights named with @ and not declared
// come from the safetensors file of the weights line. Every problem in a text is reported
// at once, each with its file:line:col (see ErrorList). docs/language.md teaches the
// language and holds its grammar, which Grammar returns.
package text
