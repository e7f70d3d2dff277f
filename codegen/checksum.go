package codegen

import (
	"hash/crc32"
	"runtime"
	"sync"
)

// crcTable is CRC-32C (Castagnoli), computed with SSE4.2 or ARMv8 CRC instructions.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// parallelCRCBytes is the file size from which checksum splits the work over two
// goroutines: checking a 27 MB plan takes ~4 ms on one core, most of the load time.
const parallelCRCBytes = 4 << 20

// checksum is the CRC-32C of a file's bytes with the checksum field itself left out.
// Large files are checked in two halves at once, and the halves' CRCs combined.
func checksum(b []byte) uint32 {
	if len(b) < parallelCRCBytes || runtime.GOMAXPROCS(0) < 2 {
		c := crc32.Update(0, crcTable, b[:48])
		return crc32.Update(c, crcTable, b[52:])
	}
	mid := len(b) / 2
	var hi uint32
	var wg sync.WaitGroup
	wg.Go(func() { hi = crc32.Update(0, crcTable, b[mid:]) })
	lo := crc32.Update(crc32.Update(0, crcTable, b[:48]), crcTable, b[52:mid])
	wg.Wait()
	return crcCombine(lo, hi, int64(len(b)-mid))
}

// crcCombine returns the CRC-32C of a‖b from crcA = CRC(a), crcB = CRC(b) and len(b):
// CRC(a‖b) = CRC(a)·x^(8·len(b)) + CRC(b) mod P, the pre- and post-inversions
// cancelling (zlib's crc32_combine, with the Castagnoli polynomial).
func crcCombine(crcA, crcB uint32, lenB int64) uint32 {
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

// castagnoliReversed is the Castagnoli polynomial, bit-reversed as crc32 uses it.
const castagnoliReversed = 0x82f63b78

// mulModP multiplies a and b modulo P, in the reflected bit order (bit 31 is x^0).
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ castagnoliReversed
		} else {
			b >>= 1
		}
	}
	return p
}

// x2n[k] is x^(2^k) mod P.
var x2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = mulModP(p, p)
	}
	return t
}()

// xPow8n is x^(8·n) mod P: the shift of a CRC past n bytes.
func xPow8n(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = mulModP(x2n[k&31], p)
		}
	}
	return p
}
