//go:build amd64 && !purego

#include "textflag.h"

// AVX2 kernels for the 4- to 6-bit formats (quant.go has the portable versions and the layouts).
// Products of unsigned weight values (0..63) with signed int8 activations go through VPMADDUBSW
// (pairs summed to int16, at most 2·63·127 so never saturating) and VPMADDWD with ones (int32), so
// every integer sum is exact.

// BCAST32(c, X, Y) broadcasts the 32-bit constant c to all lanes of Y (through AX and X).
#define BCAST32(c, X, Y) \
	MOVL $c, AX \
	VMOVD AX, X \
	VPBROADCASTD X, Y

// func dotQ4_0AVX2(w *byte, y *int8, d *float32, blocks int) float32
// blocks >= 1 Q4_0 blocks of w times Q8_0 activations (values y, scales d), as ggml's AVX2
// vec_dot_q4_0_q8_0: per block the int32 lane sums scaled by dw·dy into 8 float lanes, then the
// lanes summed (hi+lo, then pairs).
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ blocks+24(FP), CX
	VXORPS Y0, Y0, Y0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x08080808, X14, Y14)
	BCAST32(0x00010001, X13, Y13)

loop40:
	VMOVDQU 2(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y15, Y1, Y1
	VPSUBB Y14, Y1, Y1          // x = q - 8
	VMOVDQU (DI), Y2            // y
	VPSIGNB Y1, Y1, Y3          // |x|
	VPSIGNB Y1, Y2, Y4          // y with x's sign
	VPMADDUBSW Y4, Y3, Y5
	VPMADDWD Y13, Y5, Y5
	VCVTDQ2PS Y5, Y5
	VPBROADCASTW (SI), X6
	VCVTPH2PS X6, Y6
	VBROADCASTSS (DX), Y7
	VMULPS Y7, Y6, Y6
	VFMADD231PS Y5, Y6, Y0
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  loop40

	VEXTRACTF128 $1, Y0, X1
	VADDPS X0, X1, X1
	VMOVHLPS X1, X1, X2
	VADDPS X2, X1, X1
	VMOVSHDUP X1, X2
	VADDSS X2, X1, X1
	MOVSS X1, ret+32(FP)
	VZEROUPPER
	RET

// Q6HALF(OFFQL, OFFQH, OFFY) sums one 128-value half of a Q6_K block: the unsigned 6-bit values
// (ql nibbles | 2 bits of qh << 4) times y, per 16 values, left in Y8 as 8 int32 in the order
// g0 g2 g4 g6 g1 g3 g5 g7 (g = group of 16 values, in value order).
#define Q6HALF(OFFQL, OFFQH, OFFY) \
	VMOVDQU OFFQL(SI), Y1 \
	VMOVDQU OFFQL+32(SI), Y2 \
	VMOVDQU OFFQH(BX), Y3 \
	VPAND Y15, Y1, Y4 \
	VPAND Y12, Y3, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	VPMADDUBSW OFFY(DI), Y4, Y8 \
	VPAND Y15, Y2, Y4 \
	VPSRLW $2, Y3, Y5 \
	VPAND Y12, Y5, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	VPMADDUBSW OFFY+32(DI), Y4, Y9 \
	VPSRLW $4, Y1, Y4 \
	VPAND Y15, Y4, Y4 \
	VPSRLW $4, Y3, Y5 \
	VPAND Y12, Y5, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	VPMADDUBSW OFFY+64(DI), Y4, Y10 \
	VPSRLW $4, Y2, Y4 \
	VPAND Y15, Y4, Y4 \
	VPSRLW $6, Y3, Y5 \
	VPAND Y12, Y5, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	VPMADDUBSW OFFY+96(DI), Y4, Y11 \
	VPMADDWD Y13, Y8, Y8 \
	VPMADDWD Y13, Y9, Y9 \
	VPMADDWD Y13, Y10, Y10 \
	VPMADDWD Y13, Y11, Y11 \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y11, Y10, Y10 \
	VPHADDD Y10, Y8, Y8

// Byte shuffle and bit masks that spread a 32-bit qh over 32 bytes (byte i gets bit i), as ggml's
// bytes_from_bits_32.
DATA q5shuf<>+0(SB)/8, $0x0000000000000000
DATA q5shuf<>+8(SB)/8, $0x0101010101010101
DATA q5shuf<>+16(SB)/8, $0x0202020202020202
DATA q5shuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5shuf<>(SB), RODATA|NOPTR, $32
DATA q5bits<>+0(SB)/8, $0x8040201008040201
DATA q5bits<>+8(SB)/8, $0x8040201008040201
DATA q5bits<>+16(SB)/8, $0x8040201008040201
DATA q5bits<>+24(SB)/8, $0x8040201008040201
GLOBL q5bits<>(SB), RODATA|NOPTR, $32

// NIBBLES(OFF) loads the 16 bytes at OFF(SI) as 32 values in Y1: low nibbles, then high nibbles.
#define NIBBLES(OFF) \
	VMOVDQU OFF(SI), X1 \
	VPSRLW $4, X1, X2 \
	VINSERTI128 $1, X2, Y1, Y1 \
	VPAND Y15, Y1, Y1

// HIBITS(OFF) sets byte i of Y2 to 0xff where bit i of the 32-bit qh at OFF(SI) is set, else 0.
#define HIBITS(OFF) \
	VPBROADCASTD OFF(SI), Y2 \
	VPSHUFB Y12, Y2, Y2 \
	VPAND Y11, Y2, Y2 \
	VPCMPEQB Y11, Y2, Y2

// SCALED(ACC) adds the int32 lane sums of Y6 (converted) times f16 (SI) · float32 (DX) to ACC.
#define SCALED(ACC) \
	VPMADDWD Y13, Y6, Y6 \
	VCVTDQ2PS Y6, Y6 \
	VPBROADCASTW (SI), X7 \
	VCVTPH2PS X7, Y7 \
	VBROADCASTSS (DX), Y8 \
	VMULPS Y8, Y7, Y7 \
	VFMADD231PS Y6, Y7, ACC

// HSUM(RET) stores the sum of Y0's 8 lanes (hi+lo, then pairs, as ggml's hsum_float_8) at RET.
#define HSUM(RET) \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X0, X1, X1 \
	VMOVHLPS X1, X1, X2 \
	VADDPS X2, X1, X1 \
	VMOVSHDUP X1, X2 \
	VADDSS X2, X1, X1 \
	MOVSS X1, RET

// func dotQ5_0AVX2(w *byte, y *int8, d *float32, blocks int) float32
// As ggml's AVX2 vec_dot_q5_0_q8_0: x = (nibble | qh bit << 4) − 16 as signed bytes.
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ blocks+24(FP), CX
	VXORPS Y0, Y0, Y0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x00010001, X13, Y13)
	BCAST32(0xf0f0f0f0, X10, Y10)
	VMOVDQU q5shuf<>(SB), Y12
	VMOVDQU q5bits<>(SB), Y11

loop50:
	NIBBLES(6)
	HIBITS(2)
	VPANDN Y10, Y2, Y2          // 0xf0 where the high bit is clear: the byte reads as q − 16
	VPOR Y2, Y1, Y1
	VMOVDQU (DI), Y3
	VPSIGNB Y1, Y1, Y4
	VPSIGNB Y1, Y3, Y5
	VPMADDUBSW Y5, Y4, Y6
	SCALED(Y0)
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  loop50
	HSUM(ret+32(FP))
	VZEROUPPER
	RET

// func dotQ4_1AVX2(w *byte, y *int8, d *float32, blocks int) float32
// The d·q part of ggml's AVX2 vec_dot_q4_1_q8_1 (the caller adds Σ m·s): unsigned nibbles times y.
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ blocks+24(FP), CX
	VXORPS Y0, Y0, Y0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x00010001, X13, Y13)

loop41:
	NIBBLES(4)
	VMOVDQU (DI), Y3
	VPMADDUBSW Y3, Y1, Y6
	SCALED(Y0)
	ADDQ $20, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  loop41
	HSUM(ret+32(FP))
	VZEROUPPER
	RET

// func dotQ5_1AVX2(w *byte, y *int8, d *float32, blocks int) float32
// The d·q part of ggml's AVX2 vec_dot_q5_1_q8_1 (the caller adds Σ m·s): q = nibble | qh bit << 4.
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ blocks+24(FP), CX
	VXORPS Y0, Y0, Y0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x00010001, X13, Y13)
	BCAST32(0x10101010, X10, Y10)
	VMOVDQU q5shuf<>(SB), Y12
	VMOVDQU q5bits<>(SB), Y11

loop51:
	NIBBLES(8)
	HIBITS(4)
	VPAND Y10, Y2, Y2
	VPOR Y2, Y1, Y1
	VMOVDQU (DI), Y3
	VPMADDUBSW Y3, Y1, Y6
	SCALED(Y0)
	ADDQ $24, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  loop51
	HSUM(ret+32(FP))
	VZEROUPPER
	RET

// Q4KHALF(OQ, OY) leaves in X8 the four sub-block sums Σ q·y of the 64 bytes of nibbles at OQ(SI)
// (sub-blocks: low nibbles of the first 32, high of the first 32, low and high of the next 32) with
// the 128 values at OY(DI).
#define Q4KHALF(OQ, OY) \
	VMOVDQU OQ(SI), Y1 \
	VPAND Y15, Y1, Y2 \
	VPSRLW $4, Y1, Y3 \
	VPAND Y15, Y3, Y3 \
	VPMADDUBSW OY(DI), Y2, Y8 \
	VPMADDUBSW OY+32(DI), Y3, Y9 \
	VMOVDQU OQ+32(SI), Y1 \
	VPAND Y15, Y1, Y2 \
	VPSRLW $4, Y1, Y3 \
	VPAND Y15, Y3, Y3 \
	VPMADDUBSW OY+64(DI), Y2, Y10 \
	VPMADDUBSW OY+96(DI), Y3, Y11 \
	VPMADDWD Y13, Y8, Y8 \
	VPMADDWD Y13, Y9, Y9 \
	VPMADDWD Y13, Y10, Y10 \
	VPMADDWD Y13, Y11, Y11 \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y11, Y10, Y10 \
	VPHADDD Y10, Y8, Y8 \
	VEXTRACTI128 $1, Y8, X9 \
	VPADDD X9, X8, X8

// HSUMI(X, T) leaves the sum of X's four int32 lanes in lane 0 of X.
#define HSUMI(X, T) \
	VPSHUFD $0x4e, X, T \
	VPADDD T, X, X \
	VPSHUFD $0xb1, X, T \
	VPADDD T, X, X

// func dotQ4_KAVX2(w *byte, y *int8, d *float32, bsp *int32, blocks int) float32
// A whole Q4_K row times Q8_K activations (values y, scales d, sums of each 32 values bsp), computing
// exactly what dotQ4_KGo computes: per block sumi = Σ sc_j·(q·y)_j and summs = Σ m_j·bsp_j as int32,
// then sum += (dy·d)·sumi − (dy·dmin)·summs in float32, block after block.
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bsp+24(FP), R8
	MOVQ blocks+32(FP), CX
	VXORPS X0, X0, X0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x00010001, X13, Y13)

loopq4k:
	ADDQ $16, SI
	Q4KHALF(0, 0)
	VMOVDQU X8, X12
	Q4KHALF(64, 128)
	VINSERTI128 $1, X8, Y12, Y12     // the eight sub-block sums
	SUBQ $16, SI

	// The 6-bit scales (sc) and mins (m) from bytes 4..15, as scaleMinsK4.
	MOVL 4(SI), AX
	MOVL 8(SI), BX
	MOVL 12(SI), R9
	MOVL AX, R10
	ANDL $0x3f3f3f3f, R10            // sc 0..3
	MOVL R9, R11
	ANDL $0x0f0f0f0f, R11
	MOVL AX, R12
	SHRL $6, R12
	ANDL $0x03030303, R12
	SHLL $4, R12
	ORL  R12, R11                    // sc 4..7
	VMOVD R10, X4
	VPINSRD $1, R11, X4, X4
	VPMOVZXBD X4, Y4
	MOVL BX, R10
	ANDL $0x3f3f3f3f, R10            // m 0..3
	MOVL R9, R11
	SHRL $4, R11
	ANDL $0x0f0f0f0f, R11
	MOVL BX, R12
	SHRL $6, R12
	ANDL $0x03030303, R12
	SHLL $4, R12
	ORL  R12, R11                    // m 4..7
	VMOVD R10, X5
	VPINSRD $1, R11, X5, X5
	VPMOVZXBD X5, Y5

	VPMULLD Y4, Y12, Y12             // sc_j · sum_j
	VMOVDQU (R8), Y6
	VPMULLD Y5, Y6, Y6               // m_j · bsp_j
	VEXTRACTI128 $1, Y12, X7
	VPADDD X7, X12, X12
	HSUMI(X12, X7)
	VEXTRACTI128 $1, Y6, X7
	VPADDD X7, X6, X6
	HSUMI(X6, X7)
	VCVTDQ2PS X12, X12               // float32(sumi)
	VCVTDQ2PS X6, X6                 // float32(summs)

	MOVWLZX (SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VMULSS (DX), X10, X10            // dy·d
	MOVWLZX 2(SI), AX
	VMOVD AX, X11
	VCVTPH2PS X11, X11
	VMULSS (DX), X11, X11            // dy·dmin
	VMULSS X12, X10, X10
	VMULSS X6, X11, X11
	VSUBSS X11, X10, X10
	VADDSS X10, X0, X0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ  loopq4k

	MOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// RED4 reduces the sub-block pair sums in Y8..Y11 (16 int16 each) to the four int32 totals in X8.
#define RED4 \
	VPMADDWD Y13, Y8, Y8 \
	VPMADDWD Y13, Y9, Y9 \
	VPMADDWD Y13, Y10, Y10 \
	VPMADDWD Y13, Y11, Y11 \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y11, Y10, Y10 \
	VPHADDD Y10, Y8, Y8 \
	VEXTRACTI128 $1, Y8, X9 \
	VPADDD X9, X8, X8

// KSCALES unpacks the eight 6-bit scales of the K-quant block at SI (bytes 4..15) into Y4 and its
// eight mins into Y5, as int32 (scaleMinsK4).
#define KSCALES \
	MOVL 4(SI), AX \
	MOVL 8(SI), BX \
	MOVL 12(SI), R9 \
	MOVL AX, R10 \
	ANDL $0x3f3f3f3f, R10 \
	MOVL R9, R11 \
	ANDL $0x0f0f0f0f, R11 \
	MOVL AX, R12 \
	SHRL $6, R12 \
	ANDL $0x03030303, R12 \
	SHLL $4, R12 \
	ORL  R12, R11 \
	VMOVD R10, X4 \
	VPINSRD $1, R11, X4, X4 \
	VPMOVZXBD X4, Y4 \
	MOVL BX, R10 \
	ANDL $0x3f3f3f3f, R10 \
	MOVL R9, R11 \
	SHRL $4, R11 \
	ANDL $0x0f0f0f0f, R11 \
	MOVL BX, R12 \
	SHRL $6, R12 \
	ANDL $0x03030303, R12 \
	SHLL $4, R12 \
	ORL  R12, R11 \
	VMOVD R10, X5 \
	VPINSRD $1, R11, X5, X5 \
	VPMOVZXBD X5, Y5

// Q5G(SHIFT, OFFQS, OFFY, DLO, DHI): the two 32-value sub-blocks of one 64-value group g of a Q5_K
// block (SHIFT = 2g): low nibbles with bit 2g of qh (Y7) as bit 4, high nibbles with bit 2g+1, times
// y, as 16 int16 pair sums each into DLO and DHI.
#define Q5G(SHIFT, OFFQS, OFFY, DLO, DHI) \
	VMOVDQU OFFQS(SI), Y1 \
	VPSRLW $SHIFT, Y7, Y4 \
	VPAND Y14, Y4, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPAND Y15, Y1, Y2 \
	VPOR Y5, Y2, Y2 \
	VPAND Y12, Y4, Y6 \
	VPSLLW $3, Y6, Y6 \
	VPSRLW $4, Y1, Y3 \
	VPAND Y15, Y3, Y3 \
	VPOR Y6, Y3, Y3 \
	VPMADDUBSW OFFY(DI), Y2, DLO \
	VPMADDUBSW OFFY+32(DI), Y3, DHI

// func dotQ5_KAVX2(w *byte, y *int8, d *float32, bsp *int32, blocks int) float32
// A whole Q5_K row times Q8_K activations, computing exactly what dotQ5_KGo computes (as
// dotQ4_KAVX2, with 5-bit values: nibble | qh bit << 4).
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bsp+24(FP), R8
	MOVQ blocks+32(FP), CX
	VXORPS X0, X0, X0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x01010101, X14, Y14)
	BCAST32(0x00010001, X13, Y13)
	BCAST32(0x02020202, X12, Y12)

loopq5k:
	VMOVDQU 16(SI), Y7               // qh
	ADDQ $48, SI                     // the nibbles
	Q5G(0, 0, 0, Y8, Y9)
	Q5G(2, 32, 64, Y10, Y11)
	RED4
	VMOVQ X8, R10
	VPEXTRQ $1, X8, R11
	Q5G(4, 64, 128, Y8, Y9)
	Q5G(6, 96, 192, Y10, Y11)
	RED4
	VMOVQ R10, X3
	VPINSRQ $1, R11, X3, X3
	VINSERTI128 $1, X8, Y3, Y3       // the eight sub-block sums
	SUBQ $48, SI

	KSCALES
	VPMULLD Y4, Y3, Y3
	VMOVDQU (R8), Y6
	VPMULLD Y5, Y6, Y6
	VEXTRACTI128 $1, Y3, X7
	VPADDD X7, X3, X3
	HSUMI(X3, X7)
	VEXTRACTI128 $1, Y6, X7
	VPADDD X7, X6, X6
	HSUMI(X6, X7)
	VCVTDQ2PS X3, X3
	VCVTDQ2PS X6, X6

	MOVWLZX (SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VMULSS (DX), X10, X10
	MOVWLZX 2(SI), AX
	VMOVD AX, X11
	VCVTPH2PS X11, X11
	VMULSS (DX), X11, X11
	VMULSS X3, X10, X10
	VMULSS X6, X11, X11
	VSUBSS X11, X10, X10
	VADDSS X10, X0, X0

	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ  loopq5k

	MOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// q6perm puts Q6HALF's group order (g0 g2 g4 g6 g1 g3 g5 g7) back into value order, for VPERMD.
DATA q6perm<>+0(SB)/4, $0
DATA q6perm<>+4(SB)/4, $4
DATA q6perm<>+8(SB)/4, $1
DATA q6perm<>+12(SB)/4, $5
DATA q6perm<>+16(SB)/4, $2
DATA q6perm<>+20(SB)/4, $6
DATA q6perm<>+24(SB)/4, $3
DATA q6perm<>+28(SB)/4, $7
GLOBL q6perm<>(SB), RODATA|NOPTR, $32

// Q6SCALE(OFFSC, OFFBS) adds Σ sc_g·(sum_g − 32·bsums_g) over the eight groups of the half in Y8 to
// the int32 lanes of Y14 (scales: 8 int8 at OFFSC(SI); Q8_K group sums: 8 int16 at OFFBS(R8)).
#define Q6SCALE(OFFSC, OFFBS) \
	VPERMD Y8, Y7, Y8 \
	VPMOVSXWD OFFBS(R8), Y4 \
	VPSLLD $5, Y4, Y4 \
	VPSUBD Y4, Y8, Y8 \
	VPMOVSXBD OFFSC(SI), Y6 \
	VPMULLD Y6, Y8, Y8 \
	VPADDD Y8, Y14, Y14

// func dotQ6_KAVX2(w *byte, y *int8, d *float32, bsums *int16, blocks int) float32
// A whole Q6_K row times Q8_K activations, computing exactly what dotQ6_KGo computes: per block the
// int32 sumi = Σ sc_g·Σ (q − 32)·y, then sum += (d·dy)·sumi in float32, block after block.
TEXT ·dotQ6_KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bsums+24(FP), R8
	MOVQ blocks+32(FP), CX
	VXORPS X0, X0, X0
	BCAST32(0x0f0f0f0f, X15, Y15)
	BCAST32(0x03030303, X12, Y12)
	BCAST32(0x00010001, X13, Y13)
	VMOVDQU q6perm<>(SB), Y7

loopq6k:
	LEAQ 128(SI), BX
	VPXOR Y14, Y14, Y14
	Q6HALF(0, 0, 0)
	Q6SCALE(192, 0)
	Q6HALF(64, 32, 128)
	Q6SCALE(200, 16)
	VEXTRACTI128 $1, Y14, X3
	VPADDD X3, X14, X3
	HSUMI(X3, X4)
	VCVTDQ2PS X3, X3                 // float32(sumi)
	MOVWLZX 208(SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VMULSS (DX), X10, X10            // d·dy
	VMULSS X3, X10, X10
	VADDSS X10, X0, X0

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ  loopq6k

	MOVSS X0, ret+40(FP)
	VZEROUPPER
	RET
