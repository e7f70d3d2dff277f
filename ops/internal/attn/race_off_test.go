//go:build !race

package attn

const raceEnabled = false
