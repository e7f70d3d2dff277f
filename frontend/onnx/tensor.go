package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// dtypes maps ONNX TensorProto.DataType codes to IR dtypes. Codes missing here
// (complex, float8, 4-bit and 2-bit types) are reported as unsupported.
var dtypes = map[onnxpb.TensorProto_DataType]ir.DType{
	onnxpb.TensorProto_FLOAT:    ir.F32,
	onnxpb.TensorProto_UINT8:    ir.U8,
	onnxpb.TensorProto_INT8:     ir.I8,
	onnxpb.TensorProto_UINT16:   ir.U16,
	onnxpb.TensorProto_INT16:    ir.I16,
	onnxpb.TensorProto_INT32:    ir.I32,
	onnxpb.TensorProto_INT64:    ir.I64,
	onnxpb.TensorProto_STRING:   ir.String,
	onnxpb.TensorProto_BOOL:     ir.Bool,
	onnxpb.TensorProto_FLOAT16:  ir.F16,
	onnxpb.TensorProto_DOUBLE:   ir.F64,
	onnxpb.TensorProto_UINT32:   ir.U32,
	onnxpb.TensorProto_UINT64:   ir.U64,
	onnxpb.TensorProto_BFLOAT16: ir.BF16,
}

// onnxDType is the inverse of dtypes, for export.
func onnxDType(dt ir.DType) (onnxpb.TensorProto_DataType, bool) {
	for k, v := range dtypes {
		if v == dt {
			return k, true
		}
	}
	return onnxpb.TensorProto_UNDEFINED, false
}

// dtypeName is the lower-case ONNX name of a data type code, as used in messages: complex64.
func dtypeName(code int32) string {
	if name, ok := onnxpb.TensorProto_DataType_name[code]; ok {
		return strings.ToLower(name)
	}
	return "dtype " + strconv.Itoa(int(code))
}

// lowerDType maps an ONNX data type code to an IR dtype.
func lowerDType(code int32) (ir.DType, error) {
	if dt, ok := dtypes[onnxpb.TensorProto_DataType(code)]; ok {
		return dt, nil
	}
	return ir.Invalid, fmt.Errorf("unsupported dtype %s", dtypeName(code))
}

// maxTensorBytes bounds what one tensor may claim, so that a corrupt shape cannot make
// the importer allocate without limit before it notices the data is missing.
const maxTensorBytes = 1 << 40

// tensorReader turns TensorProtos into IR tensors; dir is the model's folder, from which
// external data is read ("" when the model came from memory without a folder).
type tensorReader struct {
	dir string
}

// lower converts t. Data is copied out of the protobuf message, so the message may be dropped.
func (r *tensorReader) lower(t *onnxpb.TensorProto) (*ir.Tensor, error) {
	dt, err := lowerDType(t.GetDataType())
	if err != nil {
		return nil, err
	}
	if t.GetSegment() != nil {
		return nil, errors.New("segmented tensors are not supported")
	}
	n := int64(1)
	for _, d := range t.GetDims() {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", t.GetDims())
		}
		if d != 0 && n > maxTensorBytes/d {
			return nil, fmt.Errorf("shape %v is too large", t.GetDims())
		}
		n *= d
	}
	out := &ir.Tensor{DType: dt, Shape: append([]int64{}, t.GetDims()...)}
	if out.Shape == nil {
		out.Shape = []int64{}
	}
	if dt == ir.String {
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			return nil, errors.New("string tensors cannot have external data")
		}
		if int64(len(t.GetStringData())) != n {
			return nil, fmt.Errorf("string tensor %v has %d elements, want %d", t.GetDims(), len(t.GetStringData()), n)
		}
		out.Strings = make([]string, n)
		for i, s := range t.GetStringData() {
			out.Strings[i] = string(s)
		}
		return out, nil
	}
	size := int64(dt.Size())
	if n*size > maxTensorBytes {
		return nil, fmt.Errorf("shape %v is too large", t.GetDims())
	}
	want := n * size
	switch {
	case t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL:
		out.Data, err = r.external(t, want)
		if err != nil {
			return nil, err
		}
	case t.RawData != nil:
		if int64(len(t.RawData)) != want {
			return nil, fmt.Errorf("%s%v tensor has %d bytes of raw data, want %d", dt, t.GetDims(), len(t.RawData), want)
		}
		out.Data = append([]byte{}, t.RawData...)
	default:
		out.Data, err = typedData(t, dt, n)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// typedData encodes the typed repeated fields of t little-endian, following ONNX's
// rules on which field holds which dtype: 8- and 16-bit types, bool, f16 and bf16 travel
// in int32_data (f16/bf16 as their bit patterns), u32 and u64 in uint64_data.
func typedData(t *onnxpb.TensorProto, dt ir.DType, n int64) ([]byte, error) {
	count := func(got int) error {
		if int64(got) != n {
			return fmt.Errorf("%s%v tensor has %d elements, want %d", dt, t.GetDims(), got, n)
		}
		return nil
	}
	size := dt.Size()
	b := make([]byte, 0, n*int64(size))
	switch dt {
	case ir.F32:
		if err := count(len(t.FloatData)); err != nil {
			return nil, err
		}
		for _, v := range t.FloatData {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case ir.F64:
		if err := count(len(t.DoubleData)); err != nil {
			return nil, err
		}
		for _, v := range t.DoubleData {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	case ir.I64:
		if err := count(len(t.Int64Data)); err != nil {
			return nil, err
		}
		for _, v := range t.Int64Data {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	case ir.U32, ir.U64:
		if err := count(len(t.Uint64Data)); err != nil {
			return nil, err
		}
		for _, v := range t.Uint64Data {
			if dt == ir.U32 {
				b = binary.LittleEndian.AppendUint32(b, uint32(v))
			} else {
				b = binary.LittleEndian.AppendUint64(b, v)
			}
		}
	default: // I32, I16, U16, I8, U8, Bool, F16, BF16
		if err := count(len(t.Int32Data)); err != nil {
			return nil, err
		}
		for _, v := range t.Int32Data {
			switch size {
			case 1:
				if dt == ir.Bool && v != 0 {
					v = 1
				}
				b = append(b, byte(v))
			case 2:
				b = binary.LittleEndian.AppendUint16(b, uint16(v))
			default:
				b = binary.LittleEndian.AppendUint32(b, uint32(v))
			}
		}
	}
	return b, nil
}

// external reads the data of a tensor stored outside the model. The location must be a
// relative path inside the model's folder: absolute paths, ".." and symbolic links that
// lead out of the folder are refused, so a model cannot read arbitrary files.
func (r *tensorReader) external(t *onnxpb.TensorProto, want int64) ([]byte, error) {
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil || offset < 0 {
			return nil, fmt.Errorf("external data: bad %s %q", kv.GetKey(), kv.GetValue())
		}
	}
	if location == "" {
		return nil, errors.New("external data has no location")
	}
	if filepath.IsAbs(location) || !filepath.IsLocal(filepath.FromSlash(location)) {
		return nil, fmt.Errorf("external data location %q is outside the model's folder", location)
	}
	if r.dir == "" {
		return nil, fmt.Errorf("external data %q: the model's folder is not known", location)
	}
	if length >= 0 && length != want {
		return nil, fmt.Errorf("external data %q: length %d, want %d bytes", location, length, want)
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, fmt.Errorf("external data %q: %v", location, err)
	}
	defer root.Close()
	// os.Root refuses paths that resolve outside the folder, symbolic links included.
	f, err := root.Open(filepath.FromSlash(location))
	if err != nil {
		return nil, fmt.Errorf("external data %q: %v", location, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data %q: %v", location, err)
	}
	if offset > st.Size() || st.Size()-offset < want {
		return nil, fmt.Errorf("external data %q: file has %d bytes, need %d at offset %d", location, st.Size(), want, offset)
	}
	data := make([]byte, want)
	if _, err := f.ReadAt(data, offset); err != nil && !(errors.Is(err, io.EOF) && want == 0) {
		return nil, fmt.Errorf("external data %q: %v", location, err)
	}
	return data, nil
}

// exportTensor converts an IR tensor to a TensorProto, numeric data as raw_data.
func exportTensor(name string, t *ir.Tensor) (*onnxpb.TensorProto, error) {
	code, ok := onnxDType(t.DType)
	if !ok {
		return nil, fmt.Errorf("tensor %q: dtype %s has no ONNX equivalent", name, t.DType)
	}
	p := &onnxpb.TensorProto{Name: name, DataType: int32(code), Dims: append([]int64{}, t.Shape...)}
	if t.DType == ir.String {
		for _, s := range t.Strings {
			p.StringData = append(p.StringData, []byte(s))
		}
		return p, nil
	}
	p.RawData = append([]byte{}, t.Data...)
	return p, nil
}
