// chat-apply calls llama.cpp's built-in chat renderer (llama_chat_apply_template, i.e.
// llm_chat_detect_template + llm_chat_apply_template) from the libllama that node-llama-cpp ships.
// stdin: records "<len>\n<bytes>": the template, the message count, then role and content per message.
// stdout: "OK <len>\n<rendered>" or "ERR <code>\n". Built and run by chat-reference.mjs.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The two declarations below are llama.h's (stable C ABI), so no llama.cpp headers are needed.
struct llama_chat_message {
    const char *role;
    const char *content;
};
int32_t llama_chat_apply_template(const char *tmpl, const struct llama_chat_message *chat, size_t n_msg,
                                  bool add_ass, char *buf, int32_t length);

static char *record(void) {
    long n;
    if (scanf("%ld", &n) != 1 || getchar() != '\n' || n < 0) {
        fprintf(stderr, "chat-apply: bad record header\n");
        exit(2);
    }
    char *s = malloc(n + 1);
    if (fread(s, 1, n, stdin) != (size_t)n) {
        fprintf(stderr, "chat-apply: short record\n");
        exit(2);
    }
    s[n] = 0;
    return s;
}

int main(void) {
    char *tmpl = record();
    long n = atol(record());
    struct llama_chat_message *msgs = calloc(n > 0 ? n : 1, sizeof *msgs);
    for (long i = 0; i < n; i++) {
        msgs[i].role = record();
        msgs[i].content = record();
    }
    int32_t size = llama_chat_apply_template(tmpl, msgs, n, true, NULL, 0);
    if (size < 0) {
        printf("ERR %d\n", size);
        return 0;
    }
    char *buf = malloc(size + 1);
    llama_chat_apply_template(tmpl, msgs, n, true, buf, size + 1);
    printf("OK %d\n", size);
    fwrite(buf, 1, size, stdout);
    return 0;
}
