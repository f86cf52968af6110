/* ALBEF model behaviours beyond the PyTorch parity test: checkpoint strictness,
 * fusion-only freezing, the momentum EMA, hard-negative sampling, configs. */
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "models/albef.h"
#include "models/task_retrieval.h"
#include "nn/optim.h"
#include "tests/test.h"
#include "unlearn/multidelete_loss.h"

/* A very small config (the fixture's shape), built from JSON as programs do. */
static const char *SMALL_CONFIG =
    "{\"name\": \"small\", \"image_size\": 16, \"patch_size\": 8, \"vision_width\": 32, \"vision_depth\": 2,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 40,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 4, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 16, \"max_text_len\": 8, \"max_text_len_eval\": 8, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.1, \"embed_dim\": 16, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": true, \"momentum\": 0.995, \"alpha\": 0.4, \"alpha_ramp_epochs\": 2,"
    " \"queue_size\": 8}";

static int small_config(ModelConfig *c) {
    cJSON *root = json_parse_text(SMALL_CONFIG, "small config");
    int rc = root ? model_config_from_json(c, root, "small config") : -1;
    cJSON_Delete(root);
    return rc;
}

static char config_dir[512];
static const char *config_path(const char *name) {
    /* tests run from the repository root (tests/fixtures is relative to it) */
    snprintf(config_dir, sizeof config_dir, "%s/../../models/configs/%s", test_fixture_dir(), name);
    return config_dir;
}

TEST(test_albef_configs_load_and_validate) {
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, config_path("albef-base.json")) == 0, "%s", error_message());
    ASSERT_EQ_INT(c.vocab_size, 30522);
    ASSERT_EQ_INT(c.fusion_layer, 6);
    ASSERT_EQ_INT(model_config_image_tokens(&c), 577);
    ASSERT(c.momentum_distill && c.queue_size > 0);
    ASSERT_MSG(model_config_load(&c, config_path("albef-tiny.json")) == 0, "%s", error_message());
    ASSERT(c.text_layers > c.fusion_layer);
    /* the alpha ramp of §3.1: 0 at the start, half-way after one of two epochs, then flat */
    ASSERT_NEAR(model_config_alpha_at(&c, 0, 0, 100), 0.0, 0);
    ASSERT_NEAR(model_config_alpha_at(&c, 1, 0, 100), 0.2, 1e-7);
    ASSERT_NEAR(model_config_alpha_at(&c, 3, 50, 100), 0.4, 1e-7);

    cJSON *root = json_parse_text(SMALL_CONFIG, "cfg");
    cJSON_AddNumberToObject(root, "fusion_layers", 3); /* a typo of a real key */
    ASSERT(model_config_from_json(&c, root, "cfg.json") == -1);
    ASSERT_STR_CONTAINS(error_message(), "unknown key \"fusion_layers\"");
    cJSON_DeleteItemFromObject(root, "fusion_layers");
    cJSON_DeleteItemFromObject(root, "queue_size");
    ASSERT(model_config_from_json(&c, root, "cfg.json") == -1);
    ASSERT_STR_CONTAINS(error_message(), "\"queue_size\" is missing");
    cJSON_AddNumberToObject(root, "queue_size", 8);
    cJSON_ReplaceItemInObject(root, "patch_size", cJSON_CreateNumber(5));
    ASSERT(model_config_from_json(&c, root, "cfg.json") == -1);
    ASSERT_STR_CONTAINS(error_message(), "patch_size 5");
    cJSON_Delete(root);
}

/* The small config with one key replaced; the loader's verdict. */
static int small_config_with(const char *key, double value, ModelConfig *c) {
    cJSON *root = json_parse_text(SMALL_CONFIG, "cfg");
    cJSON_ReplaceItemInObject(root, key, cJSON_CreateNumber(value));
    int rc = model_config_from_json(c, root, "cfg.json");
    cJSON_Delete(root);
    return rc;
}

TEST(test_albef_config_sizes_are_bounded_with_clear_errors) {
    ModelConfig c;
    /* a width that overflowed 3·width in the parameter declarations */
    ASSERT(small_config_with("vision_width", 1e9, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(),
                        "cfg.json: model config: \"vision_width\" is 1000000000: it must lie in [1, 16384]");
    /* beyond int: refused before it is narrowed */
    ASSERT(small_config_with("text_width", 4294967328.0, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(), "\"text_width\" is 4294967328");
    ASSERT(small_config_with("queue_size", 1e300, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(), "\"queue_size\" is not an integer in the 64-bit range");
    ASSERT(small_config_with("vocab_size", -3, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(), "\"vocab_size\" is -3: it must lie in [1, 4194304]");
    ASSERT(small_config_with("temp_max", 1e39, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(), "\"temp_max\" is 1e+39: not a finite float");
    /* every key in range, the whole too large: the parameter budget */
    cJSON *root = json_parse_text(SMALL_CONFIG, "cfg");
    cJSON_ReplaceItemInObject(root, "vision_width", cJSON_CreateNumber(16384));
    cJSON_ReplaceItemInObject(root, "vision_depth", cJSON_CreateNumber(64));
    cJSON_ReplaceItemInObject(root, "vision_mlp_hidden", cJSON_CreateNumber(65536));
    ASSERT(model_config_from_json(&c, root, "big.json") == -1);
    cJSON_Delete(root);
    ASSERT_STR_CONTAINS(error_message(), "big.json: model config: the model would hold about");
    ASSERT_STR_CONTAINS(error_message(), "parameters, more than the limit 2147483648");
    /* a relation error reads "<file>: model config: <reason>", no empty field */
    ASSERT(small_config_with("patch_size", 5, &c) == -1);
    ASSERT_STR_CONTAINS(error_message(),
                        "cfg.json: model config: image_size 16 must be a positive multiple of patch_size 5");
    ASSERT(strstr(error_message(), ": : ") == NULL);
    /* a config built in code passes through the same ranges */
    ASSERT(small_config(&c) == 0);
    c.text_heads = -2;
    ASSERT(model_config_validate(&c, "code") == -1);
    ASSERT_STR_CONTAINS(error_message(), "code: model config: \"text_heads\" is -2");
}

TEST(test_albef_config_resolves_names_and_paths) {
    char path[4096];
    ASSERT_MSG(model_config_resolve("albef-tiny", path, sizeof path) == 0, "%s", error_message());
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, path) == 0, "%s", error_message());
    ASSERT(model_config_resolve("no/such.json", path, sizeof path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "no/such.json: model config not found");
}

/* Rewrites `src` into `dst` with one tensor dropped, renamed-in or reshaped. */
typedef enum { EDIT_DROP, EDIT_ADD, EDIT_RESHAPE } Edit;
static int rewrite(const char *src, const char *dst, Edit edit, const char *name) {
    SafetensorsFile f;
    if (safetensors_open(&f, src)) return -1;
    StWriteTensor *w = calloc((size_t)f.count + 1, sizeof *w);
    int64_t *shapes = calloc((size_t)f.count + 1, ST_MAX_DIMS * sizeof(int64_t));
    int n = 0;
    static float extra[4];
    for (int k = 0; k < f.count; k++) {
        const StTensorInfo *t = &f.tensors[k];
        if (edit == EDIT_DROP && !strcmp(t->name, name)) continue;
        int64_t *sh = shapes + (size_t)n * ST_MAX_DIMS;
        memcpy(sh, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        int ndim = t->ndim;
        if (edit == EDIT_RESHAPE && !strcmp(t->name, name)) { /* same bytes, transposed shape */
            CHECK(ndim == 2, "reshape edit needs a matrix");
            int64_t tmp = sh[0];
            sh[0] = sh[1];
            sh[1] = tmp;
        }
        w[n++] = (StWriteTensor){t->name, t->dtype, ndim, sh, safetensors_bytes(&f, t)};
    }
    static const int64_t extra_shape[1] = {4};
    if (edit == EDIT_ADD) w[n++] = (StWriteTensor){name, ST_F32, 1, extra_shape, extra};
    int rc = safetensors_write(dst, w, n, NULL, 0);
    free(w);
    free(shapes);
    safetensors_close(&f);
    return rc;
}

TEST(test_albef_checkpoint_roundtrip_and_strict_errors_name_the_tensor) {
    ModelConfig c;
    ASSERT_MSG(small_config(&c) == 0, "%s", error_message());
    c.vision_heads = 4; /* non-square projection: vision_proj [16, 32] */
    Albef a, b;
    albef_init(&a, &c, 1);
    albef_init(&b, &c, 2);
    a.queue_ptr = 3;
    a.idx_queue[5] = 42;
    char good[512], bad[512];
    test_tmp_path(good, sizeof good, "albef.safetensors");
    test_tmp_path(bad, sizeof bad, "albef_bad.safetensors");
    ASSERT_MSG(albef_save(&a, good) == 0, "%s", error_message());
    ASSERT_MSG(albef_load(&b, good) == 0, "%s", error_message());
    ASSERT(memcmp(a.params.values, b.params.values, (size_t)a.params.total * sizeof(float)) == 0);
    ASSERT(memcmp(a.momentum.values, b.momentum.values, (size_t)a.momentum.total * sizeof(float)) == 0);
    ASSERT(memcmp(a.image_queue, b.image_queue, sizeof(float) * 16 * 8) == 0);
    ASSERT_EQ_INT(b.queue_ptr, 3);
    ASSERT_EQ_INT(b.idx_queue[5], 42);

    const struct {
        Edit edit;
        const char *name;
        const char *expect;
    } cases[] = {
        {EDIT_DROP, "text_encoder.encoder.layer.3.crossattention.self.key.bias", "missing"},
        {EDIT_ADD, "text_encoder.encoder.layer.1.crossattention.self.key.bias", "unexpected"},
        {EDIT_ADD, "cls_head.0.bias", "unexpected"},
        {EDIT_RESHAPE, "vision_proj.weight", "wrong shape"},
        {EDIT_RESHAPE, "text_proj_m.weight", "wrong shape"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ASSERT_MSG(rewrite(good, bad, cases[k].edit, cases[k].name) == 0, "%s", error_message());
        error_clear();
        ASSERT_MSG(albef_load(&b, bad) == -1, "case %zu loaded", k);
        ASSERT_STR_CONTAINS(error_message(), cases[k].name);
        ASSERT_STR_CONTAINS(error_message(), cases[k].expect);
    }
    albef_free(&a);
    albef_free(&b);
}

TEST(test_albef_checkpoint_without_momentum_copies_online) {
    ModelConfig c;
    ASSERT(small_config(&c) == 0);
    Albef a, b;
    albef_init(&a, &c, 1);
    albef_init(&b, &c, 2);
    char good[512], stripped[512];
    test_tmp_path(good, sizeof good, "albef_m.safetensors");
    test_tmp_path(stripped, sizeof stripped, "albef_nom.safetensors");
    ASSERT(albef_save(&a, good) == 0);
    /* drop every momentum tensor, as LAVIS fine-tuned checkpoints do (§4.3) */
    SafetensorsFile f;
    ASSERT(safetensors_open(&f, good) == 0);
    StWriteTensor *w = calloc((size_t)f.count, sizeof *w);
    int n = 0;
    for (int k = 0; k < f.count; k++)
        if (!strstr(f.tensors[k].name, "_m."))
            w[n++] = (StWriteTensor){f.tensors[k].name, f.tensors[k].dtype, f.tensors[k].ndim, f.tensors[k].shape,
                                     safetensors_bytes(&f, &f.tensors[k])};
    ASSERT(safetensors_write(stripped, w, n, NULL, 0) == 0);
    free(w);
    safetensors_close(&f);
    ASSERT_MSG(albef_load(&b, stripped) == 0, "%s", error_message());
    ASSERT(memcmp(b.momentum.values, a.params.values, (size_t)b.momentum.total * sizeof(float)) == 0);
    albef_free(&a);
    albef_free(&b);
}

TEST(test_albef_momentum_update_is_ema_of_online) {
    ModelConfig c;
    ASSERT(small_config(&c) == 0);
    c.momentum = 0.9f; /* a coefficient whose effect is large */
    Albef m;
    albef_init(&m, &c, 3);
    for (int64_t k = 0; k < m.momentum.total; k++) m.momentum.values[k] = (float)(k % 7) - 3.0f;
    float *before = malloc((size_t)m.momentum.total * sizeof(float));
    memcpy(before, m.momentum.values, (size_t)m.momentum.total * sizeof(float));
    float head_before = tensor_f32(m.itm_head.weight)[0];
    albef_momentum_update(&m);
    for (int64_t k = 0; k < m.momentum.total; k++) {
        double want = 0.9 * before[k] + 0.1 * m.params.values[k];
        ASSERT_NEAR(m.momentum.values[k], want, 1e-6 * (1.0 + fabs(want)));
    }
    /* pairing by name: the momentum twin of a tensor moves towards that tensor */
    Tensor *o = params_find(&m.params, "text_encoder.encoder.layer.3.output.dense.weight");
    Tensor *t = params_find(&m.momentum, "text_encoder_m.encoder.layer.3.output.dense.weight");
    ASSERT(o && t);
    int64_t off = params_offset(&m.momentum, t);
    ASSERT_NEAR(tensor_f32(t)[1], 0.9 * before[off + 1] + 0.1 * tensor_f32(o)[1], 1e-6);
    ASSERT(params_find(&m.momentum, "itm_head_m.weight") == NULL && params_find(&m.momentum, "temp_m") == NULL);
    ASSERT(tensor_f32(m.itm_head.weight)[0] == head_before);
    free(before);
    albef_free(&m);
}

TEST(test_albef_hard_negatives_skip_same_image_and_follow_logits) {
    enum { B = 4 };
    const int64_t ids[B] = {0, 1, 0, 2};
    /* row 0 strongly prefers column 2 (same image: forbidden) then column 3 */
    const float logits[B * B] = {9, 6, 50, 8,   0, 0, 0, 0,   1, 2, 3, 4,   -30, 0, -30, 30};
    int counts[B][B] = {{0}};
    for (uint64_t s = 0; s < 400; s++) {
        int32_t out[B];
        ASSERT(albef_sample_hard_negatives(logits, ids, B, 5, s, out) == 0);
        for (int b = 0; b < B; b++) {
            ASSERT(out[b] >= 0 && out[b] < B && ids[out[b]] != ids[b]);
            counts[b][out[b]]++;
        }
    }
    ASSERT(counts[0][1] > 10 && counts[0][3] > counts[0][1] * 3); /* e^8 vs e^6: 88% vs 12% */
    ASSERT(counts[1][0] > 50 && counts[1][2] > 50 && counts[1][3] > 50); /* uniform over 3 */
    ASSERT(counts[3][1] == 400); /* column 1 is the only non-negligible candidate */
    int32_t a[B], b[B];
    ASSERT(albef_sample_hard_negatives(logits, ids, B, 9, 1, a) == 0);
    ASSERT(albef_sample_hard_negatives(logits, ids, B, 9, 1, b) == 0);
    ASSERT(memcmp(a, b, sizeof a) == 0);
    const int64_t same[B] = {4, 4, 4, 4};
    ASSERT(albef_sample_hard_negatives(logits, same, B, 9, 1, a) == -1);
    ASSERT_STR_CONTAINS(error_message(), "image id 4");
    /* diverged weights are named as such, not blamed on the batch */
    float nan_logits[B * B];
    memcpy(nan_logits, logits, sizeof logits);
    nan_logits[2 * B + 1] = NAN;
    ASSERT(albef_sample_hard_negatives(nan_logits, ids, B, 9, 1, a) == -1);
    ASSERT_STR_CONTAINS(error_message(), "hard negatives: similarity logit (2, 1) is ");
    ASSERT_STR_CONTAINS(error_message(), "the model's features are not finite");
}

static void random_batch(AlbefBatch *b, int B, const ModelConfig *c, uint64_t seed, int64_t *ids) {
    b->images = tensor_random_uniform(SHAPE(B, 3, c->image_size, c->image_size), -1.0f, 1.0f, seed);
    int L = c->max_text_len;
    b->text_ids = tensor_new(DTYPE_I32, SHAPE(B, L));
    b->text_mask = tensor_new(DTYPE_I32, SHAPE(B, L));
    for (int i = 0; i < B; i++)
        for (int j = 0; j < L; j++) {
            int real = j < L - i % 3;
            tensor_i32(b->text_ids)[i * L + j] = real ? 1 + (int)((seed * 31 + (uint64_t)(i * L + j) * 7) % 39) : 0;
            tensor_i32(b->text_mask)[i * L + j] = real;
        }
    for (int i = 0; i < B; i++) ids[i] = i;
    b->image_ids = ids;
}

/* MultiDelete's loss through the retrieval task on ALBEF models and batches. */
static Tensor *md_loss(Albef *theta, Albef *theta0, const AlbefBatch *df, const AlbefBatch *dr, const int32_t *perm,
                       const MultiDeleteOptions *opt, MultiDeleteTerms *terms) {
    Task task;
    task_retrieval_init(&task, &theta->cfg, NULL, NULL, NULL);
    TaskModel m = task_retrieval_wrap(theta), m0 = task_retrieval_wrap(theta0);
    TaskBatch bdf = task_retrieval_batch(df), bdr = task_retrieval_batch(dr);
    Tensor *loss = multidelete_loss(&task, &m, &m0, &bdf, &bdr, perm, opt, terms);
    task.free(&task);
    return loss;
}

TEST(test_albef_fusion_only_step_leaves_other_params_bit_identical) {
    ModelConfig c;
    ASSERT(small_config(&c) == 0);
    Albef theta, theta0;
    albef_init(&theta, &c, 11);
    albef_init(&theta0, &c, 12);
    int n = albef_set_fusion_only(&theta);
    /* trainable = exactly the tensors of layers fusion_layer.. and itm_head (spec §2.3) */
    int expect = 0;
    for (int k = 0; k < theta.params.count; k++) {
        const char *name = theta.params.items[k]->name;
        int fusion = !strncmp(name, "itm_head.", 9);
        for (int l = c.fusion_layer; l < c.text_layers; l++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "text_encoder.encoder.layer.%d.", l);
            fusion |= !strncmp(name, prefix, strlen(prefix));
        }
        ASSERT_MSG(theta.params.items[k]->requires_grad == fusion, "%s trainable=%d", name,
                   theta.params.items[k]->requires_grad);
        expect += fusion;
    }
    ASSERT_EQ_INT(n, expect);
    float *before = malloc((size_t)theta.params.total * sizeof(float));
    memcpy(before, theta.params.values, (size_t)theta.params.total * sizeof(float));

    albef_set_mode(&theta, 1, 99); /* train mode: dropout on, as in unlearning */
    int64_t df_ids[4], dr_ids[4];
    AlbefBatch df, dr;
    random_batch(&df, 4, &c, 1, df_ids);
    random_batch(&dr, 4, &c, 2, dr_ids);
    int32_t perm[4];
    multidelete_random_permutation(3, 0, 4, perm);
    MultiDeleteOptions opt = multidelete_default_options();
    MultiDeleteTerms terms;
    Tensor *loss = md_loss(&theta, &theta0, &df, &dr, perm, &opt, &terms);
    ASSERT(terms.md && terms.mkr && terms.ukr);
    ASSERT(!terms.md->requires_grad && !terms.ukr->requires_grad); /* §5.3 item 6: no path in -F */
    autograd_backward(loss);
    AdamW adam;
    adamw_init(&adam, &theta.params, 0.9f, 0.999f, 1e-8f, 0.02f);
    adamw_step(&adam, 1e-3f);
    int changed = 0;
    for (int k = 0; k < theta.params.count; k++) {
        const Tensor *p = theta.params.items[k];
        int64_t off = params_offset(&theta.params, p), len = tensor_numel(p);
        int same = memcmp(before + off, theta.params.values + off, (size_t)len * sizeof(float)) == 0;
        ASSERT_MSG(p->requires_grad || same, "frozen %s changed", p->name);
        changed += p->requires_grad && !same;
    }
    ASSERT(changed > 0);
    adamw_free(&adam);
    free(before);
    albef_free(&theta);
    albef_free(&theta0);
}

TEST(test_multidelete_dropped_terms_and_permutation) {
    ModelConfig c;
    ASSERT(small_config(&c) == 0);
    Albef theta, theta0;
    albef_init(&theta, &c, 21);
    albef_init(&theta0, &c, 21); /* θ = θ0: every term but MD vanishes */
    int64_t ids_a[4], ids_b[4];
    AlbefBatch df, dr;
    random_batch(&df, 4, &c, 5, ids_a);
    random_batch(&dr, 4, &c, 6, ids_b);
    int32_t perm[4], ident[4] = {0, 1, 2, 3};
    multidelete_random_permutation(8, 1, 4, perm);
    int seen[4] = {0};
    for (int k = 0; k < 4; k++) seen[perm[k]]++;
    for (int k = 0; k < 4; k++) ASSERT_EQ_INT(seen[k], 1);

    MultiDeleteOptions opt = multidelete_default_options();
    MultiDeleteTerms t;
    md_loss(&theta, &theta0, &df, &dr, ident, &opt, &t);
    ASSERT_NEAR(tensor_f32(t.md)[0], 0.0, 1e-10);  /* identity re-pairing of an identical model */
    ASSERT_NEAR(tensor_f32(t.mkr)[0], 0.0, 1e-10);
    ASSERT_NEAR(tensor_f32(t.ukr)[0], 0.0, 1e-10);
    int32_t swap[4] = {1, 0, 3, 2};
    md_loss(&theta, &theta0, &df, &dr, swap, &opt, &t);
    ASSERT(tensor_f32(t.md)[0] > 1e-6);
    opt.use_mkr = 0;
    opt.lambda_md = 0.5f;
    Tensor *total = md_loss(&theta, &theta0, &df, &dr, swap, &opt, &t);
    ASSERT(t.mkr == NULL && t.md && t.ukr);
    ASSERT_NEAR(tensor_f32(total)[0], 0.5 * tensor_f32(t.md)[0] + tensor_f32(t.ukr)[0], 1e-7);
    albef_free(&theta);
    albef_free(&theta0);
}

TEST(test_vit_pos_embed_interpolation_keeps_cls_and_constants) {
    enum { D = 3, GO = 4, GN = 6 };
    float src[(1 + GO * GO) * D], dst[(1 + GN * GN) * D];
    for (int k = 0; k < D; k++) src[k] = 10.0f + k;
    for (int k = D; k < (1 + GO * GO) * D; k++) src[k] = (float)(k % D) - 1.0f; /* constant per channel */
    vit_interpolate_pos_embed(src, GO, dst, GN, D);
    for (int k = 0; k < D; k++) ASSERT(dst[k] == src[k]);
    for (int k = D; k < (1 + GN * GN) * D; k++) ASSERT_NEAR(dst[k], (float)(k % D) - 1.0f, 1e-6);
    float same[(1 + GO * GO) * D];
    for (int k = 0; k < (1 + GO * GO) * D; k++) src[k] = (float)((k * 37) % 11);
    vit_interpolate_pos_embed(src, GO, same, GO, D);
    for (int k = 0; k < (1 + GO * GO) * D; k++) ASSERT_NEAR(same[k], src[k], 1e-5);
}
