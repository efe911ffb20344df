// ggmlq quantizes float32 values with ggml's own reference quantizer (quantize_row_<type>_ref) and
// decodes the result with ggml's dequantize_row_<type>, from llama.cpp's libggml-base.so, to record
// what TestQuantizeMatchesGGML (quant_test.go) compares against. tools/llamacpp-ref/ggmlq-regen.sh
// builds and runs it for every type and vector and writes models/testdata/ggml-quant-reference.json:
//
//   cc -O2 -o /tmp/ggmlq inference/gguf/testdata/ggmlq.c -ldl
//   /tmp/ggmlq LIB TYPE BLOCKSIZE BLOCKBYTES IN.f32 OUT.bin OUT.f32
//
// LIB: tools/llamacpp-ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so
// (node-llama-cpp 3.22.1, llama.cpp release v0.5.0); TYPE: q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K,
// q6_K; IN.f32: little-endian float32 values, a whole number of blocks.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*qfn)(const float *, void *, long);
typedef void (*dqfn)(const void *, float *, long);

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: ggmlq LIB TYPE BLOCKSIZE BLOCKBYTES IN.f32 OUT.bin OUT.f32\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "quantize_row_%s_ref", argv[2]);
    qfn q = (qfn)dlsym(h, name);
    snprintf(name, sizeof name, "dequantize_row_%s", argv[2]);
    dqfn dq = (dqfn)dlsym(h, name);
    if (!q || !dq) {
        fprintf(stderr, "libggml has no %s quantizer or decoder\n", argv[2]);
        return 1;
    }
    long bs = atol(argv[3]), bb = atol(argv[4]);
    FILE *f = fopen(argv[5], "rb");
    if (!f) {
        perror(argv[5]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc(n * 4);
    if (fread(x, 4, n, f) != (size_t)n) {
        fprintf(stderr, "short read\n");
        return 1;
    }
    fclose(f);
    unsigned char *buf = malloc(n / bs * bb);
    q(x, buf, n);
    f = fopen(argv[6], "wb");
    fwrite(buf, 1, n / bs * bb, f);
    fclose(f);
    float *y = malloc(n * 4);
    dq(buf, y, n);
    f = fopen(argv[7], "wb");
    fwrite(y, 4, n, f);
    fclose(f);
    return 0;
}
