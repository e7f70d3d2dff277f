//go:build amd64 && !purego

package vec

// asmAvailable is true: vec_amd64.s is part of this build.
const asmAvailable = true
