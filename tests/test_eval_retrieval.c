/* Dt retrieval evaluation (eval/retrieval_eval.h): the batched ITC top-k + ITM
 * rerank against a brute-force scoring of every pair one at a time, the k_test
 * semantics, and the rerank on constructed features. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "eval/retrieval_eval.h"
#include "tests/eval_world.h"
#include "tests/test.h"

/* Every (image, text) pair scored alone (batch 1): ITC cosine and ITM match logit. */
static int brute_force(Albef *m, const RetrievalSet *s, float *itc, float *itm) {
    const int64_t ni = s->split.n_images, nt = s->split.n_texts, L = s->max_len, S = s->image_size;
    const int64_t E = m->cfg.embed_dim;
    float *px = malloc((size_t)(3 * S * S) * sizeof *px);
    int prev = autograd_set_enabled(0);
    albef_set_mode(m, 0, 0);
    for (int64_t i = 0; i < ni; i++) {
        if (retrieval_set_pixels(s, i, IMAGE_AUG_NONE, 0, 0, px) < 0) return -1;
        AlbefImageEmbed im = albef_embed_image(m, tensor_from_f32(SHAPE(1, 3, S, S), px));
        for (int64_t t = 0; t < nt; t++) {
            Tensor *ids = tensor_new(DTYPE_I32, SHAPE(1, L)), *mask = tensor_new(DTYPE_I32, SHAPE(1, L));
            memcpy(ids->data, s->ids + t * L, (size_t)L * sizeof(int32_t));
            memcpy(mask->data, s->mask + t * L, (size_t)L * sizeof(int32_t));
            AlbefTextEmbed te = albef_embed_text(m, ids, mask);
            float dot = 0.0f;
            for (int64_t k = 0; k < E; k++) dot += tensor_f32(im.feat)[k] * tensor_f32(te.feat)[k];
            itc[i * nt + t] = dot;
            itm[i * nt + t] = tensor_f32(albef_itm_logits(m, albef_fused_cls(m, &te, im.tokens)))[1];
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    free(px);
    return 0;
}

typedef struct {
    Tokenizer *tok;
    Albef m;
    RetrievalSet test;
} Fixture;

static int fixture_open(Fixture *f) {
    memset(f, 0, sizeof *f);
    f->tok = eval_world_tokenizer();
    if (!f->tok || eval_world_model(&f->m, f->tok, 7) < 0) return -1;
    return eval_world_set(&f->test, "test", f->tok, &f->m.cfg);
}

static void fixture_close(Fixture *f) {
    retrieval_set_free(&f->test);
    albef_free(&f->m);
    tokenizer_free(f->tok);
}

static RetrievalEvalOptions small_batches(int k_test) {
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = k_test;
    o.image_batch = 4; /* partial last batches everywhere */
    o.text_batch = 7;
    o.pair_batch = 5;
    o.progress = 0;
    o.keep_itc = 1;
    o.keep_scores = 1;
    return o;
}

TEST(test_retrieval_eval_rerank_equals_brute_force_when_k_covers_all) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    const int64_t ni = f.test.split.n_images, nt = f.test.split.n_texts;
    ASSERT_EQ_INT(ni, EVAL_WORLD_TEST_IMAGES);
    ASSERT_EQ_INT(nt, EVAL_WORLD_TEST_IMAGES * EVAL_WORLD_CAPTIONS);
    /* Precondition: no two captions tokenise alike (an exact tie would leave
     * the ranking to float rounding, which batching changes). */
    for (int64_t a = 0; a < nt; a++)
        for (int64_t b = a + 1; b < nt; b++)
            ASSERT_MSG(memcmp(f.test.ids + a * f.test.max_len, f.test.ids + b * f.test.max_len,
                              (size_t)f.test.max_len * sizeof(int32_t)) != 0,
                       "texts %lld and %lld tokenise alike", (long long)a, (long long)b);
    float *itc = malloc((size_t)(ni * nt) * sizeof *itc), *itm = malloc((size_t)(ni * nt) * sizeof *itm);
    float *bi2t = malloc((size_t)(ni * nt) * sizeof *bi2t), *bt2i = malloc((size_t)(ni * nt) * sizeof *bt2i);
    ASSERT_MSG(brute_force(&f.m, &f.test, itc, itm) == 0, "%s", error_message());
    for (int64_t i = 0; i < ni; i++)
        for (int64_t t = 0; t < nt; t++) {
            bi2t[i * nt + t] = itm[i * nt + t] + itc[i * nt + t];
            bt2i[t * ni + i] = bi2t[i * nt + t];
        }
    RetrievalRecall want = retrieval_recall(bi2t, bt2i, f.test.split.txt2img, ni, nt);

    RetrievalEvalOptions o = small_batches(1000); /* >= n: every pair is reranked */
    RetrievalEvalResult r;
    ASSERT_MSG(retrieval_eval_run(&f.m, &f.test, &o, &r) == 0, "%s", error_message());
    ASSERT_EQ_INT(r.k_i2t, nt);
    ASSERT_EQ_INT(r.k_t2i, ni);
    ASSERT_EQ_INT(r.n_itm_pairs, ni * nt); /* each pair once, though both directions ask for it */
    ASSERT_CLOSE_ARRAY(r.itc, itc, ni * nt, 1e-5, 1e-4);
    ASSERT_CLOSE_ARRAY(r.i2t, bi2t, ni * nt, 1e-4, 1e-4);
    ASSERT_CLOSE_ARRAY(r.t2i, bt2i, ni * nt, 1e-4, 1e-4);
    ASSERT_NEAR(r.recall.tr1, want.tr1, 1e-9);
    ASSERT_NEAR(r.recall.tr5, want.tr5, 1e-9);
    ASSERT_NEAR(r.recall.tr10, want.tr10, 1e-9);
    ASSERT_NEAR(r.recall.ir1, want.ir1, 1e-9);
    ASSERT_NEAR(r.recall.ir5, want.ir5, 1e-9);
    ASSERT_NEAR(r.recall.ir10, want.ir10, 1e-9);
    ASSERT_NEAR(r.recall.r_mean, want.r_mean, 1e-9);
    /* 6 images: every ground-truth image is within the top 10 */
    ASSERT_NEAR(r.recall.ir10, 100.0, 0);

    /* orig-ALBEF scoring: the ITM logit alone (§4.1 step 4). */
    RetrievalEvalOptions o2 = o;
    o2.score_mode = RETRIEVAL_SCORE_ITM_ONLY;
    RetrievalEvalResult r2;
    ASSERT_MSG(retrieval_eval_run(&f.m, &f.test, &o2, &r2) == 0, "%s", error_message());
    ASSERT_CLOSE_ARRAY(r2.i2t, itm, ni * nt, 1e-4, 1e-4);
    retrieval_eval_result_free(&r2);
    retrieval_eval_result_free(&r);
    free(itc);
    free(itm);
    free(bi2t);
    free(bt2i);
    fixture_close(&f);
}

TEST(test_retrieval_eval_k1_reranks_only_the_top_itc_candidate) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    const int64_t ni = f.test.split.n_images, nt = f.test.split.n_texts;
    RetrievalEvalOptions all = small_batches(1000), one = small_batches(1);
    RetrievalEvalResult full, r;
    ASSERT_MSG(retrieval_eval_run(&f.m, &f.test, &all, &full) == 0, "%s", error_message());
    ASSERT_MSG(retrieval_eval_run(&f.m, &f.test, &one, &r) == 0, "%s", error_message());
    ASSERT(r.n_itm_pairs <= ni + nt && r.n_itm_pairs >= nt);
    for (int64_t i = 0; i < ni; i++) {
        int64_t best = 0, scored = 0;
        for (int64_t t = 1; t < nt; t++)
            if (r.itc[i * nt + t] > r.itc[i * nt + best]) best = t;
        for (int64_t t = 0; t < nt; t++) {
            float v = r.i2t[i * nt + t];
            if (t == best) {
                ASSERT_NEAR(v, full.i2t[i * nt + t], 1e-5);
                scored++;
            } else {
                ASSERT_MSG(v == -100.0f, "image %lld text %lld scored %g", (long long)i, (long long)t, v);
            }
        }
        ASSERT_EQ_INT(scored, 1);
    }
    for (int64_t t = 0; t < nt; t++) {
        int64_t best = 0;
        for (int64_t i = 1; i < ni; i++)
            if (r.itc[i * nt + t] > r.itc[best * nt + t]) best = i;
        for (int64_t i = 0; i < ni; i++) {
            float v = r.t2i[t * ni + i];
            if (i == best) ASSERT_NEAR(v, full.t2i[t * ni + i], 1e-5);
            else ASSERT(v == -100.0f);
        }
    }
    retrieval_eval_result_free(&full);
    retrieval_eval_result_free(&r);
    fixture_close(&f);
}

/* ---- the rerank on constructed features ---- */

typedef struct {
    int64_t n_texts_per_image;
    int64_t n_images;
    float wrong_bonus; /* ITM logit given to (image i, a text of image i+1) */
    int64_t calls, pairs;
} FakeItm;

static void fake_itm(void *ctx, int64_t n, const int64_t *img, const int64_t *txt, float *out) {
    FakeItm *c = ctx;
    c->calls++;
    c->pairs += n;
    for (int64_t p = 0; p < n; p++) {
        int64_t owner = txt[p] / c->n_texts_per_image;
        out[p] = owner == (img[p] + 1) % c->n_images ? c->wrong_bonus : 0.0f;
    }
}

TEST(test_retrieval_rerank_recall_100_when_text_features_equal_their_image) {
    enum { NI = 4, PER = 2, NT = NI * PER, E = 8 };
    float vf[NI * E] = {0}, tf[NT * E];
    for (int i = 0; i < NI; i++) vf[i * E + 2 * i] = 1.0f; /* orthonormal image features */
    int64_t txt2img[NT];
    for (int t = 0; t < NT; t++) {
        txt2img[t] = t / PER;
        memcpy(tf + t * E, vf + (t / PER) * E, sizeof(float) * E); /* each text's feature = its image's */
    }
    RetrievalEmbeddings e = {.n_images = NI, .n_texts = NT, .embed_dim = E, .image_feat = vf, .text_feat = tf};
    float C[NI * NT], i2t[NI * NT], t2i[NT * NI];
    retrieval_eval_itc_matrix(&e, C);
    ASSERT_NEAR(C[1 * NT + 3], 1.0, 1e-7);
    ASSERT_NEAR(C[1 * NT + 4], 0.0, 1e-7);

    FakeItm itm = {PER, NI, 0.0f, 0, 0};
    int64_t n = retrieval_eval_rerank(C, NI, NT, 3, RETRIEVAL_SCORE_ITM_PLUS_ITC, fake_itm, &itm, i2t, t2i);
    ASSERT_EQ_INT(itm.calls, 1);
    ASSERT_EQ_INT(itm.pairs, n);
    RetrievalRecall r = retrieval_recall(i2t, t2i, txt2img, NI, NT);
    ASSERT_NEAR(r.tr1, 100.0, 0);
    ASSERT_NEAR(r.ir1, 100.0, 0);
    ASSERT_NEAR(r.r_mean, 100.0, 0);
    /* image 0's candidates by C: its 2 texts (1.0), then text 2 (the lowest
     * index among the 0.0 ties); everything else stays -100 */
    ASSERT_NEAR(i2t[0 * NT + 0], 1.0, 1e-7);
    ASSERT_NEAR(i2t[0 * NT + 2], 0.0, 1e-7);
    ASSERT(i2t[0 * NT + 3] == -100.0f);

    /* An ITM head that prefers the wrong image's texts wins when it may rerank them ... */
    FakeItm bad = {PER, NI, 10.0f, 0, 0};
    retrieval_eval_rerank(C, NI, NT, NT, RETRIEVAL_SCORE_ITM_PLUS_ITC, fake_itm, &bad, i2t, t2i);
    ASSERT_EQ_INT(bad.pairs, NI * NT);
    r = retrieval_recall(i2t, t2i, txt2img, NI, NT);
    ASSERT_NEAR(r.tr1, 0.0, 0);
    ASSERT_NEAR(r.ir1, 0.0, 0);
    /* ... and cannot when k_test = 1 keeps only the ITC top candidate. */
    FakeItm bad1 = {PER, NI, 10.0f, 0, 0};
    retrieval_eval_rerank(C, NI, NT, 1, RETRIEVAL_SCORE_ITM_ONLY, fake_itm, &bad1, i2t, t2i);
    ASSERT_EQ_INT(bad1.pairs, NT); /* the i2t tops are among the t2i tops */
    r = retrieval_recall(i2t, t2i, txt2img, NI, NT);
    ASSERT_NEAR(r.tr1, 100.0, 0);
    ASSERT_NEAR(r.ir1, 100.0, 0);
    ASSERT_NEAR(i2t[0 * NT + 0], 0.0, 0); /* ITM only: no + C */
}

TEST(test_retrieval_eval_refuses_nonfinite_scores) {
    /* one NaN weight makes every text feature NaN: no recall may come of it */
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    Tensor *w = params_find(&f.m.params, "text_proj.weight");
    ASSERT(w != NULL);
    tensor_f32(w)[0] = NAN;
    RetrievalEvalOptions o = small_batches(4);
    RetrievalEvalResult r;
    int rc = retrieval_eval_run(&f.m, &f.test, &o, &r);
    fixture_close(&f);
    ASSERT(rc == RETRIEVAL_EVAL_NONFINITE);
    ASSERT_STR_CONTAINS(error_message(), "retrieval evaluation: the ITC score of image 0 and caption 0 is ");
    ASSERT_STR_CONTAINS(error_message(), "nan: the model's features are not finite");
}

TEST(test_retrieval_set_fingerprint_follows_images_and_captions) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    uint64_t a = FNV1A_INIT, b = FNV1A_INIT, c = FNV1A_INIT, d = FNV1A_INIT;
    ASSERT(retrieval_set_fingerprint(&f.test, &a) == 0 && retrieval_set_fingerprint(&f.test, &b) == 0);
    ASSERT(a == b);
    /* an image rewritten in place (a new modification time) is another world */
    const char *img = f.test.split.image_paths[1];
    struct stat st;
    ASSERT(stat(img, &st) == 0);
    struct timespec later[2] = {st.st_atim, {st.st_mtim.tv_sec + 7, st.st_mtim.tv_nsec}};
    ASSERT(utimensat(AT_FDCWD, img, later, 0) == 0);
    int rc = retrieval_set_fingerprint(&f.test, &c);
    struct timespec back[2] = {st.st_atim, st.st_mtim};
    utimensat(AT_FDCWD, img, back, 0);
    ASSERT(rc == 0 && c != a);
    /* so is one changed caption token */
    f.test.ids[3] ^= 1;
    ASSERT(retrieval_set_fingerprint(&f.test, &d) == 0 && d != a);
    f.test.ids[3] ^= 1;
    fixture_close(&f);
}
