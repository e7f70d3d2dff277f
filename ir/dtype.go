package ir

import "fmt"

// DType is the element type of a tensor. The zero value is Invalid.
type DType uint8

const (
	Invalid DType = iota
	F32
	F16
	BF16
	F64
	I8
	U8
	I16
	U16
	I32
	U32
	I64
	U64
	Bool
	String
)

var dtypeInfo = [...]struct {
	name string
	size int // bytes per element; 0 for String
}{
	Invalid: {"invalid", 0},
	F32:     {"f32", 4},
	F16:     {"f16", 2},
	BF16:    {"bf16", 2},
	F64:     {"f64", 8},
	I8:      {"i8", 1},
	U8:      {"u8", 1},
	I16:     {"i16", 2},
	U16:     {"u16", 2},
	I32:     {"i32", 4},
	U32:     {"u32", 4},
	I64:     {"i64", 8},
	U64:     {"u64", 8},
	Bool:    {"bool", 1},
	String:  {"string", 0},
}

// String returns the short name used in the printed IR: f32, i64, bool, ...
func (d DType) String() string {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Size is the size in bytes of one element, 0 for String and Invalid.
func (d DType) Size() int {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].size
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// IsInt reports whether d is a signed or unsigned integer type.
func (d DType) IsInt() bool {
	switch d {
	case I8, U8, I16, U16, I32, U32, I64, U64:
		return true
	}
	return false
}

// IsNumeric reports whether d is a float or integer type.
func (d DType) IsNumeric() bool { return d.IsFloat() || d.IsInt() }

// ParseDType maps a printed name (f32, i64, ...) back to its DType.
func ParseDType(s string) (DType, bool) {
	for i, info := range dtypeInfo {
		if i != int(Invalid) && info.name == s {
			return DType(i), true
		}
	}
	return Invalid, false
}

// AllDTypes lists every valid DType in declaration order.
func AllDTypes() []DType {
	var ds []DType
	for d := F32; d <= String; d++ {
		ds = append(ds, d)
	}
	return ds
}
