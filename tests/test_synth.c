/* Synthetic worlds (data/synth_*.h): deterministic bytes, captions consistent
 * with the rendered scenes, files readable by the real-format readers
 * (VE and NLVR2 texts: tests/test_synth_claims.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/flickr30k.h"
#include "data/image.h"
#include "data/nlvr2.h"
#include "data/pgr.h"
#include "data/pgr_corpus.h"
#include "data/snli_ve.h"
#include "data/synth_image_text.h"
#include "data/synth_pgr.h"
#include "data/synth_scene.h"
#include "data/synth_text.h"
#include "data/tokenizer.h"
#include "tests/test.h"

/* Written here independently of data/synth_text.c: the words a caption may
 * use for each shape (data/synth_scene.h order). */
static const char *const shape_words[SYNTH_N_SHAPES][3] = {
    {"circle", "disc", "round shape"}, {"square", "box", "block"}, {"triangle", "triangle", "triangle"},
    {"diamond", "rhombus", "rhombus"}, {"cross", "plus sign", "plus sign"}};
static const char *const colours[SYNTH_N_COLOURS] = {"red", "green", "blue", "yellow", "purple", "orange", "white", "black"};
static const char *const numbers[6] = {"zero", "one", "two", "three", "four", "five"};

static int shape_at(const char *p) {
    for (int s = 0; s < SYNTH_N_SHAPES; s++)
        for (int k = 0; k < 3; k++)
            if (strncmp(p, shape_words[s][k], strlen(shape_words[s][k])) == 0) return s;
    return -1;
}

static int colour_word(const char *w, size_t n) {
    for (int c = 0; c < SYNTH_N_COLOURS; c++)
        if (strlen(colours[c]) == n && strncmp(w, colours[c], n) == 0) return c;
    return -1;
}

static int number_word(const char *w, size_t n) {
    for (int k = 0; k < 6; k++)
        if (strlen(numbers[k]) == n && strncmp(w, numbers[k], n) == 0) return k;
    return -1;
}

static int scene_has(const SynthScene *s, int colour, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].colour == colour && (int)s->obj[i].shape == shape) return 1;
    return 0;
}

TEST(test_synth_scene_centre_pixel_has_the_named_colour) {
    enum { N = 40, SIZE = 64 };
    static uint8_t rgb[SIZE * SIZE * 3];
    int checked = 0;
    for (int i = 0; i < N; i++) {
        SynthScene s;
        synth_scene_sample(7, i, &s);
        ASSERT(s.n >= 2 && s.n <= 4);
        synth_scene_render(&s, SIZE, rgb);
        Image img = {SIZE, SIZE, 3, IMAGE_U8, rgb};
        char path[512];
        test_tmp_path(path, sizeof path, "synth_scene.jpg");
        ASSERT(image_write_jpeg(path, &img, 95) == 0);
        Image back;
        ASSERT_MSG(image_read(path, &back) == 0, "%s", error_message());
        for (int k = 0; k < s.n; k++) {
            const SynthObject *o = &s.obj[k];
            int px = (int)(o->cx * SIZE), py = (int)(o->cy * SIZE);
            const uint8_t *raw = rgb + ((size_t)py * SIZE + px) * 3;
            const uint8_t *dec = image_u8(&back) + ((size_t)py * SIZE + px) * 3;
            ASSERT_MSG(synth_nearest_colour(raw) == (int)o->colour, "scene %d object %d: raster", i, k);
            ASSERT_MSG(synth_nearest_colour(dec) == (int)o->colour, "scene %d object %d (%s %s): jpeg %d,%d,%d", i, k,
                       colours[o->colour], shape_words[o->shape][0], dec[0], dec[1], dec[2]);
            checked++;
        }
        /* A corner is background: gray. */
        ASSERT(rgb[0] == s.background[0] && rgb[1] == s.background[1]);
        image_free(&back);
    }
    ASSERT(checked >= 2 * N);
}

TEST(test_synth_captions_name_objects_of_the_scene_and_its_count) {
    int counts_seen = 0;
    for (int i = 0; i < 200; i++) {
        SynthScene s;
        synth_scene_sample(11, i, &s);
        char caps[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX];
        synth_captions(&s, 11, i, caps);
        for (int c = 0; c < SYNTH_CAPTIONS_PER_IMAGE; c++) {
            const char *t = caps[c];
            int named = 0;
            for (const char *p = t; *p;) {
                const char *e = p;
                while (*e && *e != ' ' && *e != ',' && *e != ':') e++;
                int col = colour_word(p, (size_t)(e - p));
                int num = number_word(p, (size_t)(e - p));
                const char *next = *e ? e + 1 : e;
                if (col >= 0) { /* colour word: the next words name the shape of that object */
                    int shape = shape_at(next);
                    ASSERT_MSG(shape >= 0, "caption \"%s\": colour without shape", t);
                    ASSERT_MSG(scene_has(&s, col, shape), "caption \"%s\" names a %s %s absent from scene %d", t,
                               colours[col], shape_words[shape][0], i);
                    named++;
                }
                if (num >= 0 && (!strncmp(next, "shapes", 6) || !strncmp(next, "objects", 7) ||
                                 !strncmp(next, "figures", 7))) {
                    ASSERT_MSG(num == s.n, "caption \"%s\": count %d, scene has %d", t, num, s.n);
                    counts_seen++;
                }
                p = *e ? e + 1 : e;
                while (*p == ' ') p++;
            }
            ASSERT_MSG(named >= 2, "caption \"%s\" names %d objects", t, named);
        }
        for (int a = 0; a < SYNTH_CAPTIONS_PER_IMAGE; a++) /* five different captions */
            for (int b = a + 1; b < SYNTH_CAPTIONS_PER_IMAGE; b++) ASSERT(strcmp(caps[a], caps[b]) != 0);
    }
    ASSERT(counts_seen >= 150); /* one count caption per image, checked above */
}

/* Every file under dir (recursively, one level of images/) concatenated as a
 * 64-bit FNV-1a hash, with the count of files. */
static uint64_t hash_file(const char *path, uint64_t h) {
    size_t n = 0;
    char *data = file_read_all(path, &n);
    CHECK(data, "%s", error_message());
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)data[i]) * 1099511628211ull;
    free(data);
    return h;
}

static uint64_t hash_world(const char *dir, const SynthImageTextOptions *o) {
    static const char *const files[] = {"flickr30k_train.json", "flickr30k_val.json", "flickr30k_test.json",
                                        "ve_train.json",        "ve_dev.json",        "ve_test.json",
                                        "nlvr_train.json",      "nlvr_dev.json",      "nlvr_test.json",
                                        "scenes.json",          "vocab.txt"};
    uint64_t h = 1469598103934665603ull;
    char path[1024];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        h = hash_file(path, h);
    }
    int total = o->train_images + o->val_images + o->test_images;
    for (int i = 0; i < total; i++) {
        snprintf(path, sizeof path, "%s/images/%d.jpg", dir, SYNTH_IMAGE_ID_BASE + i);
        h = hash_file(path, h);
    }
    return h;
}

TEST(test_synth_image_text_world_is_deterministic_and_readable) {
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 8;
    o.val_images = 3;
    o.test_images = 3;
    o.image_size = 32;
    o.vocab_size = 300;
    char d1[512], d2[512], d3[512];
    test_tmp_path(d1, sizeof d1, "world_a");
    test_tmp_path(d2, sizeof d2, "world_b");
    test_tmp_path(d3, sizeof d3, "world_c");
    ASSERT_MSG(synth_image_text_write(&o, d1) == 0, "%s", error_message());
    /* The images are rendered in parallel: one thread must write the same bytes as several. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 3);
    int rc = synth_image_text_write(&o, d2);
    omp_set_num_threads(threads);
    ASSERT_MSG(rc == 0, "%s", error_message());
    o.seed = 43;
    ASSERT_MSG(synth_image_text_write(&o, d3) == 0, "%s", error_message());
    o.seed = 42;
    ASSERT(hash_world(d1, &o) == hash_world(d2, &o));
    ASSERT(hash_world(d1, &o) != hash_world(d3, &o));

    char path[1024], root[1024];
    snprintf(root, sizeof root, "%s/images", d1);
    Flickr30kSplit f;
    snprintf(path, sizeof path, "%s/flickr30k_train.json", d1);
    ASSERT_MSG(flickr30k_read(path, FLICKR30K_TRAIN, root, 1, &f) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.n_images, 8);
    ASSERT_EQ_INT(f.n_texts, 40);
    flickr30k_free(&f);
    snprintf(path, sizeof path, "%s/flickr30k_test.json", d1);
    ASSERT_MSG(flickr30k_read(path, FLICKR30K_EVAL, root, 1, &f) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.n_images, 3);
    ASSERT_EQ_INT(f.n_texts, 15);
    flickr30k_free(&f);
    SnliVeSplit v;
    snprintf(path, sizeof path, "%s/ve_dev.json", d1);
    ASSERT_MSG(snli_ve_read(path, root, 1, &v) == 0, "%s", error_message());
    ASSERT_EQ_INT(v.n, 3 * 6);
    snli_ve_free(&v);
    Nlvr2Split nl;
    snprintf(path, sizeof path, "%s/nlvr_train.json", d1);
    ASSERT_MSG(nlvr2_read(path, root, 1, &nl) == 0, "%s", error_message());
    ASSERT_EQ_INT(nl.n, 16);
    int n_true = 0;
    for (int64_t i = 0; i < nl.n; i++) n_true += nl.records[i].label;
    ASSERT_EQ_INT(n_true, 8);
    nlvr2_free(&nl);
    Image img;
    snprintf(path, sizeof path, "%s/images/%d.jpg", d1, SYNTH_IMAGE_ID_BASE + 13);
    ASSERT_MSG(image_read(path, &img) == 0, "%s", error_message());
    ASSERT_EQ_INT(img.width, 32);
    image_free(&img);
    snprintf(path, sizeof path, "%s/vocab.txt", d1);
    ASSERT(file_exists(path));
}

/* The retrieval part of a world (captions, images, vocabulary) as one hash:
 * the VE and NLVR2 generators must never change it, or every retrieval number
 * measured on the world would move. */
static uint64_t hash_retrieval_world(const char *dir, const SynthImageTextOptions *o) {
    static const char *const files[] = {"flickr30k_train.json", "flickr30k_val.json", "flickr30k_test.json",
                                        "vocab.txt"};
    uint64_t h = 1469598103934665603ull;
    char path[1024];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        h = hash_file(path, h);
    }
    int total = o->train_images + o->val_images + o->test_images;
    for (int i = 0; i < total; i++) {
        snprintf(path, sizeof path, "%s/images/%d.jpg", dir, SYNTH_IMAGE_ID_BASE + i);
        h = hash_file(path, h);
    }
    return h;
}

TEST(test_synth_retrieval_world_bytes_are_pinned) {
    /* Hashes of the files as the world's first release wrote them, per named world (small sizes). */
    static const char *const worlds[2] = {"longtail", "scenes"};
    static const uint64_t pinned[2] = {0x587f79548051a910ull, 0x2af942d74bfeecfbull};
    for (int w = 0; w < 2; w++) {
        SynthImageTextOptions o;
        ASSERT(synth_image_text_world(worlds[w], &o) == 0);
        o.train_images = 30;
        o.val_images = 6;
        o.test_images = 6;
        o.image_size = 32;
        o.vocab_size = 400;
        char dir[512];
        test_tmp_path(dir, sizeof dir, worlds[w]);
        ASSERT_MSG(synth_image_text_write(&o, dir) == 0, "%s", error_message());
        uint64_t h = hash_retrieval_world(dir, &o);
        ASSERT_MSG(h == pinned[w], "world %s: retrieval files hash to 0x%016llxull", worlds[w], (unsigned long long)h);
    }
}

TEST(test_synth_image_text_refuses_negative_counts_before_writing) {
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 2;
    o.val_images = 2;
    o.test_images = 2;
    o.image_size = 16;
    char dir[512], probe[600];
    test_tmp_path(dir, sizeof dir, "world_negative");
    o.nlvr_pairs_percent = -50;
    ASSERT(synth_image_text_write(&o, dir) == -1);
    ASSERT_STR_CONTAINS(error_message(), "NLVR2 pairs percent -50 outside 0..10000");
    snprintf(probe, sizeof probe, "%s/nlvr_train.json", dir);
    ASSERT(!file_exists(probe)); /* nothing written, not an empty file */
    o.nlvr_pairs_percent = 100;
    o.ve_per_label = -1;
    ASSERT(synth_image_text_write(&o, dir) == -1);
    ASSERT_STR_CONTAINS(error_message(), "SNLI-VE hypotheses per label -1 outside 0..1000");
}

TEST(test_synth_pgr_world_parses_with_the_pgr_reader) {
    SynthPgrOptions o = synth_pgr_tiny();
    char d1[512], d2[512], path[1024], path2[1024];
    test_tmp_path(d1, sizeof d1, "pgr_a");
    test_tmp_path(d2, sizeof d2, "pgr_b");
    ASSERT_MSG(synth_pgr_write(&o, d1) == 0, "%s", error_message());
    ASSERT_MSG(synth_pgr_write(&o, d2) == 0, "%s", error_message());
    static const char *const files[3] = {"train.tsv", "test.tsv", "kg_edges.tsv"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", d1, files[k]);
        snprintf(path2, sizeof path2, "%s/%s", d2, files[k]);
        ASSERT_MSG(hash_file(path, 0) == hash_file(path2, 0), "%s differs between runs", files[k]);
    }
    PgrTable t;
    snprintf(path, sizeof path, "%s/train.tsv", d1);
    ASSERT_MSG(pgr_read_tsv(path, &t) == 0, "%s", error_message());
    ASSERT_EQ_INT(t.n, o.n_rows_train);
    ASSERT_EQ_INT(t.n_offsets_repaired, 0);
    ASSERT_EQ_INT(t.n_offsets_unresolved, 0);
    int pos = 0;
    for (int64_t i = 0; i < t.n; i++) {
        const PgrRow *r = &t.rows[i];
        ASSERT(strncmp(r->sentence + r->gene_start, r->gene, strlen(r->gene)) == 0);
        ASSERT(strncmp(r->sentence + r->phen_start, r->phenotype, strlen(r->phenotype)) == 0);
        ASSERT(r->confirmation == 0);
        pos += r->label;
        /* The label is a function of the (gene, phenotype) pair (§1.4). */
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(t.rows[j].gene_id, r->gene_id) && !strcmp(t.rows[j].hpo_id, r->hpo_id))
                ASSERT_MSG(t.rows[j].label == r->label, "rows %lld and %lld disagree", (long long)j, (long long)i);
    }
    ASSERT_MSG(pos > t.n / 5 && pos < t.n * 3 / 5, "%d positives of %lld", pos, (long long)t.n);
    pgr_table_free(&t);
    snprintf(path, sizeof path, "%s/test.tsv", d1);
    ASSERT_MSG(pgr_read_tsv(path, &t) == 0, "%s", error_message());
    ASSERT_EQ_INT(t.n, o.n_rows_test);
    for (int64_t i = 0; i < t.n; i++) ASSERT(t.rows[i].confirmation == 'C' || t.rows[i].confirmation == 'I');
    pgr_table_free(&t);
    PgrEdgeList e;
    snprintf(path, sizeof path, "%s/kg_edges.tsv", d1);
    ASSERT_MSG(pgr_read_edges(path, &e) == 0, "%s", error_message());
    ASSERT(e.n > o.n_genes / 2);
    ASSERT_EQ_INT(e.n_duplicates, 0);
    ASSERT(strncmp(e.src[0], "NCBIGene:", 9) == 0 && strncmp(e.dst[0], "HP:", 3) == 0);
    pgr_edges_free(&e);
}

/* The world is a whole PGR data directory: --task pgr --data <world> loads it
 * with its own vocab.txt, whose pieces cover the mention markers. */
TEST(test_synth_pgr_world_loads_as_a_pgr_corpus) {
    SynthPgrOptions o = synth_pgr_tiny();
    char dir[512], path[1024];
    test_tmp_path(dir, sizeof dir, "pgr_corpus_dir");
    ASSERT_MSG(synth_pgr_write(&o, dir) == 0, "%s", error_message());
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Tokenizer *tok = tokenizer_load(path);
    ASSERT_MSG(tok != NULL, "%s", error_message());
    ASSERT(tokenizer_vocab_size(tok) > 100 && tokenizer_vocab_size(tok) <= o.vocab_size);
    ASSERT(tokenizer_token_id(tok, "@") >= 0 && tokenizer_token_id(tok, "$") >= 0);
    tokenizer_free(tok);
    PgrCorpusOptions opt = pgr_corpus_defaults();
    opt.dir = dir;
    opt.max_len = 64;
    opt.test_all_rows = 1;
    PgrCorpus c;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    ASSERT_EQ_INT(c.split[PGR_SPLIT_TEST].n, o.n_rows_test);
    pgr_corpus_free(&c);
}
