// Writes a random-init GPT-2 124M checkpoint in llm.c format (version 3, padded vocab)
// plus random train/val token files in llm.c's data format. Measurement-only helper.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t s = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) { s ^= s >> 12; s ^= s << 25; s ^= s >> 27; return s * 0x2545F4914F6CDD1Dull; }
static double unif(void) { return ((next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static float randn(void) { return (float)(sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif())); }

static void fill_normal(float* p, size_t n, float std) { for (size_t i = 0; i < n; i++) p[i] = std * randn(); }
static void fill_const(float* p, size_t n, float v) { for (size_t i = 0; i < n; i++) p[i] = v; }

static void write_tokens(const char* path, int ntok) {
    FILE* f = fopen(path, "wb"); if (!f) { perror(path); exit(1); }
    int header[256]; memset(header, 0, sizeof(header));
    header[0] = 20240520; header[1] = 1; header[2] = ntok;
    fwrite(header, sizeof(int), 256, f);
    uint16_t* t = malloc(ntok * sizeof(uint16_t));
    for (int i = 0; i < ntok; i++) t[i] = (uint16_t)(next_u64() % 50257);
    fwrite(t, sizeof(uint16_t), ntok, f);
    free(t); fclose(f);
}

int main(void) {
    const size_t maxT = 1024, V = 50257, Vp = 50304, L = 12, NH = 12, C = 768;
    int header[256]; memset(header, 0, sizeof(header));
    header[0] = 20240326; header[1] = 3; header[2] = maxT; header[3] = V;
    header[4] = L; header[5] = NH; header[6] = C; header[7] = Vp;
    size_t sz[16] = { Vp*C, maxT*C, L*C, L*C, L*3*C*C, L*3*C, L*C*C, L*C, L*C, L*C,
                      L*4*C*C, L*4*C, L*C*4*C, L*C, C, C };
    size_t total = 0; for (int i = 0; i < 16; i++) total += sz[i];
    float* p = malloc(total * sizeof(float));
    float* q = p;
    float resid_std = 0.02f / sqrtf(2.0f * L);
    // Per tensor, in llm.c's order: wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb,
    // fcprojw, fcprojb, lnfw, lnfb. Kind: 'n' normal(std), 'c' constant(std as the value).
    const char kind[16] = { 'n','n','c','c','n','c','n','c','c','c','n','c','n','c','c','c' };
    const float arg[16] = { 0.02f, 0.01f, 1, 0, 0.02f, 0, resid_std, 0, 1, 0, 0.02f, 0, resid_std, 0, 1, 0 };
    for (int i = 0; i < 16; i++) {
        size_t n = i == 0 ? V*C : sz[i]; // wte: real rows random, padded rows zero
        if (kind[i] == 'n') fill_normal(q, n, arg[i]); else fill_const(q, n, arg[i]);
        if (i == 0) fill_const(q + V*C, (Vp-V)*C, 0.0f);
        q += sz[i];
    }
    FILE* f = fopen("gpt2_124M.bin", "wb"); if (!f) { perror("gpt2_124M.bin"); return 1; }
    fwrite(header, sizeof(int), 256, f);
    if (fwrite(p, sizeof(float), total, f) != total) { perror("write"); return 1; }
    fclose(f); free(p);
    printf("wrote gpt2_124M.bin: %zu params\n", total);
    mkdir("dev", 0755); mkdir("dev/data", 0755); mkdir("dev/data/tinyshakespeare", 0755);
    write_tokens("dev/data/tinyshakespeare/tiny_shakespeare_train.bin", 300000);
    write_tokens("dev/data/tinyshakespeare/tiny_shakespeare_val.bin", 50000);
    printf("wrote token files\n");
    return 0;
}
