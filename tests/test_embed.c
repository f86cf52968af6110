/* bin/embed (programs/main_embed.c), run as a program: the tensors it writes have
 * the documented shapes and equal direct albef_embed_* / albef_fused_cls calls;
 * bad inputs name the file and the reason; --help lists every flag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "tests/eval_world.h"
#include "tests/test.h"

/* Runs `cmd` (stderr folded into stdout); returns its output (malloc'ed) and
 * the exit status in *status. */
static const char *embed_tool(char *buf, size_t size) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    snprintf(buf, size, "%s/embed", bin);
    return buf;
}

/* The tensor `name` must have the given shape; its values come back in out. */
static int read_tensor(const SafetensorsFile *f, const char *name, int ndim, const int64_t *shape, float *out) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t) return error_set("%s missing", name);
    if (t->ndim != ndim) return error_set("%s: %d dims", name, t->ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (t->shape[d] != shape[d]) return error_set("%s: dim %d is %lld", name, d, (long long)t->shape[d]);
        n *= shape[d];
    }
    return safetensors_read_f32(f, t, out, n);
}

TEST(test_embed_program_writes_states_equal_to_direct_calls) {
    char tool[512];
    if (!file_exists(embed_tool(tool, sizeof tool))) {
        test_fail(__FILE__, __LINE__, "%s not built (make %s)", tool, tool);
        return;
    }
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok, "%s", error_message());
    Albef m;
    ASSERT_MSG(eval_world_model(&m, tok, 5) == 0, "%s", error_message());
    RetrievalSet s;
    ASSERT_MSG(eval_world_set(&s, "test", tok, &m.cfg) == 0, "%s", error_message());

    char cfg[512], ckpt[512], images[512], captions[512], out[512], vocab[1024], cmd[8192];
    test_tmp_path(cfg, sizeof cfg, "embed_cfg.json");
    test_tmp_path(ckpt, sizeof ckpt, "embed_model.safetensors");
    test_tmp_path(images, sizeof images, "embed_images.txt");
    test_tmp_path(captions, sizeof captions, "embed_captions.txt");
    test_tmp_path(out, sizeof out, "embed_out.safetensors");
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", eval_world_dir());
    cJSON *cj = model_config_to_json(&m.cfg);
    ASSERT(json_write_file(cfg, cj) == 0);
    cJSON_Delete(cj);
    ASSERT_MSG(albef_save(&m, ckpt) == 0, "%s", error_message());
    /* 3 images and their first captions (raw: the program cleans and tokenises) */
    enum { N = 3 };
    const int64_t texts[N] = {0, 5, 10};
    FILE *fi = fopen(images, "w"), *fc = fopen(captions, "w");
    ASSERT(fi && fc);
    for (int k = 0; k < N; k++) {
        fprintf(fi, "%s\n", s.split.image_paths[k]);
        fprintf(fc, "%s\r\n\n", s.split.texts[texts[k]]); /* CRLF and a blank line: both ignored */
        ASSERT_EQ_INT(s.split.txt2img[texts[k]], k);
    }
    fclose(fi);
    fclose(fc);
    snprintf(cmd, sizeof cmd,
             "%s --model %s --checkpoint %s --vocab %s --images %s --captions %s --out %s --batch 2 --no-progress 2>&1",
             tool, cfg, ckpt, vocab, images, captions, out);
    int status;
    char *log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    free(log);

    /* The same through the model directly, one batch of 3. */
    const int64_t S = m.cfg.image_size, L = s.max_len, Nv = model_config_image_tokens(&m.cfg);
    const int64_t Dv = m.cfg.vision_width, D = m.cfg.text_width, E = m.cfg.embed_dim;
    float *px = malloc((size_t)(N * 3 * S * S) * sizeof *px);
    for (int k = 0; k < N; k++) ASSERT(retrieval_set_pixels(&s, k, IMAGE_AUG_NONE, 0, 0, px + k * 3 * S * S) == 0);
    Tensor *ids = tensor_new(DTYPE_I32, SHAPE(N, L)), *mask = tensor_new(DTYPE_I32, SHAPE(N, L));
    for (int k = 0; k < N; k++) {
        memcpy(tensor_i32(ids) + k * L, s.ids + texts[k] * L, (size_t)L * sizeof(int32_t));
        memcpy(tensor_i32(mask) + k * L, s.mask + texts[k] * L, (size_t)L * sizeof(int32_t));
    }
    int prev = autograd_set_enabled(0);
    albef_set_mode(&m, 0, 0);
    AlbefImageEmbed im = albef_embed_image(&m, tensor_from_f32(SHAPE(N, 3, S, S), px));
    AlbefTextEmbed te = albef_embed_text(&m, ids, mask);
    Tensor *cls = albef_fused_cls(&m, &te, im.tokens);
    Tensor *itm = albef_itm_logits(&m, cls);
    autograd_set_enabled(prev);

    SafetensorsFile f;
    ASSERT_MSG(safetensors_open(&f, out) == 0, "%s", error_message());
    float *buf = malloc((size_t)(N * Nv * Dv + N * L * D) * sizeof *buf);
    ASSERT_MSG(read_tensor(&f, "image_tokens", 3, (int64_t[]){N, Nv, Dv}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(im.tokens), N * Nv * Dv, 1e-5, 1e-4);
    ASSERT_MSG(read_tensor(&f, "image_feat", 2, (int64_t[]){N, E}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(im.feat), N * E, 1e-5, 1e-4);
    ASSERT_MSG(read_tensor(&f, "text_tokens", 3, (int64_t[]){N, L, D}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(te.tokens), N * L * D, 1e-5, 1e-4);
    ASSERT_MSG(read_tensor(&f, "text_feat", 2, (int64_t[]){N, E}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(te.feat), N * E, 1e-5, 1e-4);
    ASSERT_MSG(read_tensor(&f, "fused_cls", 2, (int64_t[]){N, D}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(cls), N * D, 1e-5, 1e-4);
    ASSERT_MSG(read_tensor(&f, "itm_logits", 2, (int64_t[]){N, 2}, buf) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(buf, tensor_f32(itm), N * 2, 1e-5, 1e-4);
    int32_t got_ids[N * 64];
    const StTensorInfo *ti = safetensors_find(&f, "text_ids");
    ASSERT(ti && ti->dtype == ST_I32 && ti->shape[0] == N && ti->shape[1] == L);
    ASSERT(safetensors_read_i32(&f, ti, got_ids, N * L) == 0);
    ASSERT(memcmp(got_ids, tensor_i32(ids), (size_t)(N * L) * sizeof(int32_t)) == 0);
    const char *meta = safetensors_meta_get(&f, "config");
    ASSERT_STR_CONTAINS(meta, "\"eval-tiny\"");
    safetensors_close(&f);
    autograd_step_end();

    /* Unequal lists: no pairs, so no fused states. */
    fc = fopen(captions, "a");
    fprintf(fc, "one more caption\n");
    fclose(fc);
    ASSERT((log = test_run_command(cmd, &status)) != NULL);
    ASSERT_MSG(status == 0, "%s", log);
    free(log);
    ASSERT(safetensors_open(&f, out) == 0);
    ASSERT(safetensors_find(&f, "fused_cls") == NULL);
    ASSERT(safetensors_find(&f, "text_feat")->shape[0] == N + 1);
    safetensors_close(&f);

    /* One NaN weight: refused at load, naming the tensor; with --allow-nonfinite
     * the features are written but each NaN tensor is warned about. */
    tensor_f32(params_find(&m.params, "vision_proj.weight"))[2] = NAN;
    ASSERT_MSG(albef_save(&m, ckpt) == 0, "%s", error_message());
    ASSERT((log = test_run_command(cmd, &status)) != NULL);
    ASSERT_EQ_INT(status, 1);
    ASSERT_STR_CONTAINS(log, "1 tensor(s) hold NaN or infinite values (first: vision_proj.weight)");
    free(log);
    char cmd_allow[8300];
    snprintf(cmd_allow, sizeof cmd_allow, "%s --allow-nonfinite", cmd); /* words after 2>&1 are still arguments */
    ASSERT((log = test_run_command(cmd_allow, &status)) != NULL);
    ASSERT_MSG(status == 0, "%s", log);
    ASSERT_STR_CONTAINS(log, "tensor vision_proj.weight holds 1 non-finite value(s)");
    ASSERT_STR_CONTAINS(log, "image_feat: row 0 holds a non-finite value (written: --allow-nonfinite)");
    free(log);

    free(buf);
    free(px);
    retrieval_set_free(&s);
    albef_free(&m);
    tokenizer_free(tok);
}

TEST(test_embed_program_errors_name_the_file_and_help_lists_flags) {
    char tool[512], cmd[8192];
    if (!file_exists(embed_tool(tool, sizeof tool))) {
        test_fail(__FILE__, __LINE__, "%s not built (make %s)", tool, tool);
        return;
    }
    int status;
    snprintf(cmd, sizeof cmd, "%s --help 2>&1", tool);
    char *out = test_run_command(cmd, &status);
    ASSERT(out);
    ASSERT_EQ_INT(status, 0);
    const char *names[] = {"--model", "--checkpoint", "--vocab", "--images", "--captions", "--out", "--batch",
                           "--max-len", "--[no-]progress"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) ASSERT_STR_CONTAINS(out, names[k]);
    ASSERT_STR_CONTAINS(out, "(default: 16)");
    free(out);

    /* a model name that is not in models/configs/ */
    snprintf(cmd, sizeof cmd, "%s --model no-such-model --checkpoint x --vocab x --images x --captions x --out x 2>&1",
             tool);
    out = test_run_command(cmd, &status);
    ASSERT(out);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(out, "no models/configs/no-such-model.json in the working directory or next to the program");
    free(out);

    /* a missing checkpoint, the rest valid */
    char cfg[512], list[512], missing[512], vocab[1024];
    test_tmp_path(cfg, sizeof cfg, "embed_err_cfg.json");
    test_tmp_path(list, sizeof list, "embed_err_list.txt");
    test_tmp_path(missing, sizeof missing, "no_such_checkpoint.safetensors");
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", eval_world_dir());
    ModelConfig c;
    ASSERT(eval_world_config(&c, 400) == 0);
    cJSON *cj = model_config_to_json(&c);
    ASSERT(json_write_file(cfg, cj) == 0);
    cJSON_Delete(cj);
    FILE *f = fopen(list, "w");
    ASSERT(f);
    fprintf(f, "%s/images/1000000.jpg\n", eval_world_dir());
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s --model %s --checkpoint %s --vocab %s --images %s --captions %s --out %s.out --no-progress 2>&1", tool,
             cfg, missing, vocab, list, list, missing);
    out = test_run_command(cmd, &status);
    ASSERT(out);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(out, "loading checkpoint");
    ASSERT_STR_CONTAINS(out, missing);
    free(out);
    ASSERT(!file_exists(missing));

    /* --max-len 1 leaves no room for [CLS] and [SEP]: a clear error, not the tokenizer's abort */
    snprintf(cmd, sizeof cmd,
             "%s --model %s --checkpoint %s --vocab %s --images %s --captions %s --out %s.out --max-len 1 2>&1", tool,
             cfg, missing, vocab, list, list, missing);
    out = test_run_command(cmd, &status);
    ASSERT(out);
    ASSERT_EQ_INT(status, 1);
    ASSERT_STR_CONTAINS(out, "--max-len: must be 0 (the config's) or at least 2");
    free(out);

    /* a config name resolves next to the program from any working directory:
     * the run gets past the config to the (missing) checkpoint */
    char abs_tool[4096];
    ASSERT(realpath(tool, abs_tool) != NULL);
    snprintf(cmd, sizeof cmd,
             "cd / && %s --model albef-tiny --checkpoint %s --vocab %s --images %s --captions %s --out %s.out "
             "--no-progress 2>&1",
             abs_tool, missing, vocab, list, list, missing);
    out = test_run_command(cmd, &status);
    ASSERT(out);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(out, "loading checkpoint");
    free(out);
}
