/* bin/embed: the representations an ALBEF checkpoint gives a list of images
 * and captions, for inspection and for other tools (probes, plots, PyTorch).
 * With --task, the representations of any task's model for the items of its
 * data and deletion request instead (programs/embed_task.c).
 *
 *   bin/embed --model albef-tiny --checkpoint model.safetensors --vocab vocab.txt \
 *             --images images.txt --captions captions.txt --out embed.safetensors
 *
 * Inputs: one image path per line, one caption per line (blank lines are
 * skipped). Images go through the eval transform, captions through LAVIS
 * pre_caption and the tokenizer at max_text_len_eval (spec/albef_blip.md
 * §4.1, §5.5, §6.4); the model runs in eval mode without a tape.
 * Output tensors (safetensors, F32 unless noted):
 *   image_tokens [N, Nv, Dv]  ViT states after the final norm
 *   image_feat   [N, E]       ITC features l2norm(vision_proj(CLS))
 *   text_tokens  [M, L, D]    text-mode states (layers 0 .. fusion_layer-1)
 *   text_feat    [M, E]       ITC features l2norm(text_proj(CLS))
 *   text_ids, text_mask [M, L] I32: the tokenised captions
 *   fused_cls [N, D], itm_logits [N, 2]: the pairs (image k, caption k), only when N == M
 * metadata: "config" (resolved model config JSON), "checkpoint". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params_io.h"
#include "core/cli.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/finite.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "data/caption.h"
#include "data/image.h"
#include "data/tokenizer.h"
#include "data/transform.h"
#include "eval/retrieval_eval.h"
#include "models/albef.h"
#include "programs/embed_task.h"

static const char *model_arg, *checkpoint, *vocab, *images_path, *captions_path, *out_path;
static int batch, max_len, progress, allow_nonfinite;

static const CliFlag flags[] = {
    CLI_FLAG_STRING("model", &model_arg, NULL, "model config: a JSON file, or a name in models/configs/ (required)"),
    CLI_FLAG_STRING("checkpoint", &checkpoint, NULL, "ALBEF safetensors checkpoint (required)"),
    CLI_FLAG_STRING("vocab", &vocab, NULL, "WordPiece vocab.txt of the model (required)"),
    CLI_FLAG_STRING("images", &images_path, NULL, "text file: one image path per line (required)"),
    CLI_FLAG_STRING("captions", &captions_path, NULL, "text file: one caption per line (required)"),
    CLI_FLAG_STRING("out", &out_path, NULL, "safetensors file to write (required)"),
    CLI_FLAG_INT("batch", &batch, "16", "images, captions or pairs per forward"),
    CLI_FLAG_INT("max-len", &max_len, "0", "caption tokens incl. [CLS]/[SEP] (0: the config's max_text_len_eval)"),
    CLI_FLAG_BOOL("progress", &progress, "true", "progress bars on stderr"),
    CLI_FLAG_BOOL("allow-nonfinite", &allow_nonfinite, "false",
                  "load a checkpoint holding NaN/inf and write non-finite features (warned, not refused)"),
};
static const CliSpec spec = {"embed",
                             "Writes the image/text token states, ITC features and fused [CLS] states of an ALBEF "
                             "checkpoint for lists of images and captions. With --task (snli_ve, nlvr2, pgr, "
                             "flickr30k): each item's representations and class probabilities for a task's data "
                             "(bin/embed --task T --help).",
                             flags, CLI_COUNT(flags)};

typedef struct {
    char *text;   /* the file, lines cut in place */
    char **lines; /* non-blank lines, trailing CR/whitespace removed */
    int64_t n;
} LineList;

static int read_lines(const char *path, const char *what, LineList *out) {
    memset(out, 0, sizeof *out);
    out->text = file_read_all(path, NULL);
    if (!out->text) return error_prefix("%s list", what);
    int64_t cap = 64;
    out->lines = malloc((size_t)cap * sizeof *out->lines);
    CHECK(out->lines, "out of memory");
    for (char *p = out->text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t')) p[--len] = '\0';
        if (len > 0) {
            if (out->n == cap) {
                out->lines = realloc(out->lines, (size_t)(cap *= 2) * sizeof *out->lines);
                CHECK(out->lines, "out of memory");
            }
            out->lines[out->n++] = p;
        }
        p = nl ? nl + 1 : NULL;
    }
    if (out->n == 0) return error_set("%s: no %s listed", path, what);
    return 0;
}

static void free_lines(LineList *l) {
    free(l->lines);
    free(l->text);
}

typedef struct {
    char **paths;
    int size;
} PathPixels;

static int path_pixels(void *ctx, int64_t index, float *out_chw) {
    const PathPixels *p = ctx;
    Image img;
    if (image_read(p->paths[index], &img) < 0) return error_prefix("image %lld", (long long)index + 1);
    int rc = transform_eval(&img, p->size, out_chw);
    image_free(&img);
    return rc;
}

/* A NaN feature is written as if it were one unless asked for (DESIGN.md
 * "Nothing silently wrong"): name the first tensor, row and input line. */
static int check_finite_rows(const StWriteTensor *t, const LineList *rows, const char *what) {
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    int64_t bad = finite_first_bad_f32(t->data, numel);
    if (bad < 0) return 0;
    int64_t row = bad / (numel / t->shape[0]);
    if (allow_nonfinite) {
        log_warn("%s: row %lld holds a non-finite value (written: --allow-nonfinite)", t->name, (long long)row);
        return 0;
    }
    return error_set("%s row %lld (%s \"%s\") holds %g: the model's features are not finite (--allow-nonfinite "
                     "writes them anyway)", t->name, (long long)row, what, rows->lines[row],
                     (double)((const float *)t->data)[bad]);
}

static int embed(void) {
    if (batch < 1) return error_set("command line: --batch: must be at least 1 (got %d)", batch);
    params_allow_nonfinite(allow_nonfinite);
    if (max_len < 0 || max_len == 1)
        return error_set("command line: --max-len: must be 0 (the config's) or at least 2, room for [CLS] and "
                         "[SEP] (got %d)", max_len);
    char config_path[4096];
    if (model_config_resolve(model_arg, config_path, sizeof config_path) < 0) return -1;
    ModelConfig cfg;
    if (model_config_load(&cfg, config_path) < 0) return -1;
    /* The tokenizer's vocabulary decides the embedding table (models/model_config.h). */
    if (model_config_use_vocab_file(&cfg, vocab) < 0) return -1;
    Tokenizer *tok = tokenizer_load(vocab);
    if (!tok) return -1;
    int L = max_len ? max_len : cfg.max_text_len_eval;
    if (L > cfg.max_position_embeddings) {
        tokenizer_free(tok);
        return error_set("command line: --max-len %d exceeds the model's %d positions", L,
                         cfg.max_position_embeddings);
    }
    LineList imgs, caps;
    if (read_lines(images_path, "images", &imgs) < 0) {
        free_lines(&imgs);
        tokenizer_free(tok);
        return -1;
    }
    if (read_lines(captions_path, "captions", &caps) < 0) {
        free_lines(&imgs);
        free_lines(&caps);
        tokenizer_free(tok);
        return -1;
    }
    Albef m;
    albef_init(&m, &cfg, 0);
    int rc = albef_load(&m, checkpoint);
    if (rc < 0) error_prefix("loading checkpoint");

    const int64_t N = imgs.n, M = caps.n;
    RetrievalEmbeddings e;
    memset(&e, 0, sizeof e);
    int32_t *ids = malloc((size_t)(M * L) * sizeof *ids), *mask = malloc((size_t)(M * L) * sizeof *mask);
    CHECK(ids && mask, "out of memory");
    if (rc == 0) {
        PathPixels px = {imgs.lines, cfg.image_size};
        rc = retrieval_eval_embed_images(&m, N, path_pixels, &px, batch, 1, progress, &e);
    }
    float *cls = NULL, *itm = NULL;
    if (rc == 0) {
        char **clean = malloc((size_t)M * sizeof *clean);
        CHECK(clean, "out of memory");
        for (int64_t t = 0; t < M; t++) {
            clean[t] = pre_caption(caps.lines[t], CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS);
            CHECK(clean[t], "out of memory");
        }
        tokenizer_encode_batch(tok, (const char *const *)clean, M, L, ids, mask);
        for (int64_t t = 0; t < M; t++) free(clean[t]);
        free(clean);
        retrieval_eval_embed_texts(&m, M, ids, mask, L, batch, 1, progress, &e);
        if (N == M) {
            int64_t *k = malloc((size_t)N * sizeof *k);
            cls = malloc((size_t)(N * cfg.text_width) * sizeof *cls);
            itm = malloc((size_t)(N * 2) * sizeof *itm);
            CHECK(k && cls && itm, "out of memory");
            for (int64_t i = 0; i < N; i++) k[i] = i;
            retrieval_eval_fused_pairs(&m, &e, N, k, k, batch, progress, cls, itm);
            free(k);
        } else {
            log_info("%lld images and %lld captions: no (image k, caption k) pairs, so no fused_cls", (long long)N,
                     (long long)M);
        }
    }
    if (rc == 0) {
        const int64_t s_it[] = {N, e.image_len, e.vision_width}, s_if[] = {N, e.embed_dim};
        const int64_t s_tt[] = {M, L, e.text_width}, s_tf[] = {M, e.embed_dim}, s_ids[] = {M, L};
        const int64_t s_cls[] = {N, e.text_width}, s_itm[] = {N, 2};
        StWriteTensor t[8] = {
            {"image_tokens", ST_F32, 3, s_it, e.image_tokens}, {"image_feat", ST_F32, 2, s_if, e.image_feat},
            {"text_tokens", ST_F32, 3, s_tt, e.text_tokens},   {"text_feat", ST_F32, 2, s_tf, e.text_feat},
            {"text_ids", ST_I32, 2, s_ids, ids},               {"text_mask", ST_I32, 2, s_ids, mask},
            {"fused_cls", ST_F32, 2, s_cls, cls},              {"itm_logits", ST_F32, 2, s_itm, itm},
        };
        /* rows of t[0..1] are images, of the others captions (or pair k = image k, caption k) */
        for (int k = 0; k < (N == M ? 8 : 6) && rc == 0; k++)
            if (t[k].dtype == ST_F32) rc = check_finite_rows(&t[k], k < 2 ? &imgs : &caps, k < 2 ? "image" : "caption");
        cJSON *cj = model_config_to_json(&cfg);
        char *cfg_text = cJSON_PrintUnformatted(cj);
        StMetaEntry meta[] = {{"config", cfg_text}, {"checkpoint", (char *)checkpoint}};
        rc = safetensors_write(out_path, t, N == M ? 8 : 6, meta, 2);
        if (rc == 0)
            log_info("%s: %lld images, %lld captions%s", out_path, (long long)N, (long long)M,
                     N == M ? ", fused [CLS] of the pairs" : "");
        free(cfg_text);
        cJSON_Delete(cj);
    }
    free(cls);
    free(itm);
    free(ids);
    free(mask);
    retrieval_embeddings_free(&e);
    albef_free(&m);
    free_lines(&imgs);
    free_lines(&caps);
    tokenizer_free(tok);
    return rc;
}

/* --task selects the task mode, which has the run driver's flags. */
static int task_mode(int argc, char **argv) {
    for (int k = 1; k < argc; k++)
        if (strcmp(argv[k], "--task") == 0 || strncmp(argv[k], "--task=", 7) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (task_mode(argc, argv)) return embed_task_main(argc, argv);
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    if (!model_arg || !checkpoint || !vocab || !images_path || !captions_path || !out_path)
        fatal("command line: --model, --checkpoint, --vocab, --images, --captions and --out are required "
              "(see --help)");
    error_exit_if(embed());
    return 0;
}
