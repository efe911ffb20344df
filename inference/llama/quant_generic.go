//go:build !amd64 || purego

package llama

func dotQ4_0(w []byte, a actRow) float32 { return dotQ4_0Go(w, a) }
func dotQ4_K(w []byte, a actRow) float32 { return dotQ4_KGo(w, a) }
func dotQ6_K(w []byte, a actRow) float32 { return dotQ6_KGo(w, a) }
func dotQ5_K(w []byte, a actRow) float32 { return dotQ5_KGo(w, a) }
func dotQ4_1(w []byte, a actRow) float32 { return dotQ4_1Go(w, a) }
func dotQ5_0(w []byte, a actRow) float32 { return dotQ5_0Go(w, a) }
func dotQ5_1(w []byte, a actRow) float32 { return dotQ5_1Go(w, a) }
