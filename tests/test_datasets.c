/* Real dataset formats (spec/albef_blip.md §6, spec/pgr_graph_text.md §1.2,
 * §4.1): each parsed from small files written here, and every malformed input
 * rejected with its own message. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "data/flickr30k.h"
#include "data/nlvr2.h"
#include "data/pgr.h"
#include "data/snli_ve.h"
#include "tests/test.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    test_tmp_path(p, 512, name);
    CHECK(file_write_atomic(p, text, strlen(text)) == 0, "%s", error_message());
    return p;
}

TEST(test_flickr30k_train_maps_image_ids_in_order_of_first_appearance) {
    const char *path = write_tmp("f_train.json",
                                 "[{\"image\": \"flickr30k-images/b.jpg\", \"caption\": \"b one\", \"image_id\": \"22\"},\n"
                                 " {\"image\": \"flickr30k-images/a.jpg\", \"caption\": \"a one\", \"image_id\": 11},\n"
                                 " {\"image\": \"flickr30k-images/b.jpg\", \"caption\": \"b two\", \"image_id\": \"22\"}]");
    Flickr30kSplit s;
    ASSERT_MSG(flickr30k_read(path, FLICKR30K_TRAIN, "/data/f30k", 0, &s) == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n_images, 2);
    ASSERT_EQ_INT(s.n_texts, 3);
    ASSERT(strcmp(s.image_keys[0], "22") == 0 && strcmp(s.image_keys[1], "11") == 0);
    ASSERT(strcmp(s.image_paths[1], "/data/f30k/flickr30k-images/a.jpg") == 0);
    ASSERT_EQ_INT(s.txt2img[0], 0);
    ASSERT_EQ_INT(s.txt2img[1], 1);
    ASSERT_EQ_INT(s.txt2img[2], 0);
    ASSERT_EQ_INT(s.img2txt_start[1] - s.img2txt_start[0], 2);
    ASSERT_EQ_INT(s.img2txt[s.img2txt_start[0] + 1], 2);
    ASSERT(strcmp(s.texts[2], "b two") == 0);
    flickr30k_free(&s);
}

TEST(test_annotation_absolute_image_paths_ignore_the_root) {
    /* os.path.join(root, "/abs/x.jpg") is "/abs/x.jpg", which LAVIS then opens */
    const char *path = write_tmp("abs_train.json",
                                 "[{\"image\": \"/abs/x.jpg\", \"caption\": \"x\", \"image_id\": \"1\"}]");
    Flickr30kSplit s;
    ASSERT_MSG(flickr30k_read(path, FLICKR30K_TRAIN, "/data/f30k", 0, &s) == 0, "%s", error_message());
    ASSERT(strcmp(s.image_paths[0], "/abs/x.jpg") == 0);
    flickr30k_free(&s);
    path = write_tmp("abs_nlvr.json",
                     "[{\"images\": [\"/abs/l.png\", \"r.png\"], \"sentence\": \"s\", \"label\": \"True\"}]");
    Nlvr2Split n;
    ASSERT_MSG(nlvr2_read(path, "/root", 0, &n) == 0, "%s", error_message());
    ASSERT(strcmp(n.records[0].image_paths[0], "/abs/l.png") == 0);
    ASSERT(strcmp(n.records[0].image_paths[1], "/root/r.png") == 0);
    nlvr2_free(&n);
}

TEST(test_annotation_invalid_utf8_is_counted_and_logged) {
    const char *path = write_tmp("utf8_train.json",
                                 "[{\"image\": \"a.jpg\", \"caption\": \"fine caf\u00e9\", \"image_id\": \"1\"},"
                                 " {\"image\": \"a.jpg\", \"caption\": \"bad \xff byte\", \"image_id\": \"1\"},"
                                 " {\"image\": \"a.jpg\", \"caption\": \"cut \xe2\x82\", \"image_id\": \"1\"}]");
    char log_path[512];
    test_tmp_path(log_path, sizeof log_path, "utf8_log.txt");
    FILE *log = fopen(log_path, "w+");
    ASSERT(log);
    log_set_console(log);
    Flickr30kSplit s;
    int rc = flickr30k_read(path, FLICKR30K_TRAIN, NULL, 0, &s);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n_invalid_utf8, 2);
    flickr30k_free(&s);
    path = write_tmp("utf8_ve.json", "[{\"image\": \"a\", \"sentence\": \"\xc0\xaf\", \"label\": \"neutral\"}]");
    SnliVeSplit v;
    rc = snli_ve_read(path, NULL, 0, &v);
    log_set_console(stderr);
    char line[1024] = "";
    rewind(log);
    size_t got = fread(line, 1, sizeof line - 1, log);
    line[got] = '\0';
    fclose(log);
    ASSERT_STR_CONTAINS(line, "utf8_train.json: 2 text(s) hold invalid UTF-8 (first in record 1)");
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(v.n_invalid_utf8, 1); /* an overlong encoding is invalid too */
    snli_ve_free(&v);
}

TEST(test_flickr30k_eval_enumerates_texts_image_by_image) {
    const char *path = write_tmp("f_val.json", "[{\"image\": \"x.jpg\", \"caption\": [\"x0\", \"x1\", \"x2\"]},"
                                               " {\"image\": \"y.jpg\", \"caption\": [\"y0\", \"y1\"]}]");
    Flickr30kSplit s;
    ASSERT_MSG(flickr30k_read(path, FLICKR30K_EVAL, NULL, 0, &s) == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n_images, 2);
    ASSERT_EQ_INT(s.n_texts, 5);
    ASSERT(strcmp(s.texts[3], "y0") == 0);
    ASSERT_EQ_INT(s.txt2img[3], 1);
    ASSERT_EQ_INT(s.img2txt_start[1], 3);
    ASSERT_EQ_INT(s.img2txt_start[2], 5);
    ASSERT(strcmp(s.image_paths[0], "x.jpg") == 0);
    flickr30k_free(&s);
}

/* Reads `text` as `layout` and asserts failure with a message containing `needle`. */
static int flickr_fails(const char *text, Flickr30kLayout layout, const char *needle) {
    const char *path = write_tmp("f_bad.json", text);
    Flickr30kSplit s;
    error_clear();
    if (flickr30k_read(path, layout, NULL, 0, &s) == 0) {
        flickr30k_free(&s);
        fprintf(stderr, "  accepted: %s\n", text);
        return 0;
    }
    if (!strstr(error_message(), needle) || !strstr(error_message(), "f_bad.json")) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", error_message(), needle);
        return 0;
    }
    return 1;
}

TEST(test_flickr30k_malformed_inputs_have_their_own_messages) {
    ASSERT(flickr_fails("", FLICKR30K_TRAIN, "empty file"));
    ASSERT(flickr_fails("[]", FLICKR30K_TRAIN, "the array holds no records"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\",\n \"caption\": \"x\" \"image_id\": 1}]", FLICKR30K_TRAIN,
                        "line 2, column"));
    ASSERT(flickr_fails("{\"image\": \"a.jpg\"}", FLICKR30K_TRAIN, "not a JSON array"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": \"x\"}]", FLICKR30K_TRAIN,
                        "record 0: field \"image_id\" is missing"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": 3, \"image_id\": 1}]", FLICKR30K_TRAIN,
                        "record 0: field \"caption\" is not a string"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": \"x\", \"image_id\": [1]}]", FLICKR30K_TRAIN,
                        "field \"image_id\" is not a string or an integer"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": \"x\", \"image_id\": 1},"
                        " {\"image\": \"b.jpg\", \"caption\": \"y\", \"image_id\": 1}]",
                        FLICKR30K_TRAIN, "record 1: image_id \"1\" names image \"b.jpg\" here but a different image in record 0"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": \"x\"}]", FLICKR30K_EVAL,
                        "field \"caption\" is not an array"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": []}]", FLICKR30K_EVAL, "is an empty list"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": [\"x\", 5]}]", FLICKR30K_EVAL,
                        "record 0: caption 1 is not a string"));
    ASSERT(flickr_fails("[{\"image\": \"a.jpg\", \"caption\": [\"x\"]}, {\"image\": \"a.jpg\", \"caption\": [\"y\"]}]",
                        FLICKR30K_EVAL, "record 1: image \"a.jpg\" is listed again (first in record 0)"));
    ASSERT(flickr_fails("[3]", FLICKR30K_EVAL, "record 0: is not a JSON object"));
}

TEST(test_flickr30k_checks_that_image_files_exist) {
    char img[512];
    test_tmp_path(img, sizeof img, "present.jpg");
    ASSERT(file_write_atomic(img, "x", 1) == 0);
    const char *path = write_tmp("f_img.json", "[{\"image\": \"present.jpg\", \"caption\": [\"p\"]},"
                                               " {\"image\": \"absent.jpg\", \"caption\": [\"q\"]}]");
    Flickr30kSplit s;
    ASSERT(flickr30k_read(path, FLICKR30K_EVAL, test_tmp_dir(), 1, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "record 1: image file \"");
    ASSERT_STR_CONTAINS(error_message(), "absent.jpg\" does not exist");
    /* Without the check the same file loads. */
    ASSERT(flickr30k_read(path, FLICKR30K_EVAL, test_tmp_dir(), 0, &s) == 0);
    flickr30k_free(&s);
}

TEST(test_snli_ve_reads_labels_with_the_lavis_map) {
    const char *path = write_tmp("ve.json", "[{\"image\": \"123\", \"sentence\": \"a dog\", \"label\": \"entailment\"},"
                                            " {\"image\": \"123\", \"sentence\": \"a cat\", \"label\": \"contradiction\"},"
                                            " {\"image\": \"456\", \"sentence\": \"a pet\", \"label\": \"neutral\"}]");
    SnliVeSplit s;
    ASSERT_MSG(snli_ve_read(path, "/imgs", 0, &s) == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n, 3);
    ASSERT_EQ_INT(s.records[0].label, 2);
    ASSERT_EQ_INT(s.records[1].label, 0);
    ASSERT_EQ_INT(s.records[2].label, 1);
    ASSERT(strcmp(s.records[2].image_path, "/imgs/456.jpg") == 0);
    ASSERT(strcmp(s.records[1].sentence, "a cat") == 0);
    snli_ve_free(&s);

    const char *bad = write_tmp("ve_bad.json", "[{\"image\": \"1\", \"sentence\": \"s\", \"label\": \"Entailment\"}]");
    ASSERT(snli_ve_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "record 0: unknown label \"Entailment\"");
    bad = write_tmp("ve_bad.json", "[{\"image\": \"1\", \"label\": \"neutral\"}]");
    ASSERT(snli_ve_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "field \"sentence\" is missing");
    bad = write_tmp("ve_bad.json", "[{\"image\": 1, \"sentence\": \"s\", \"label\": \"neutral\"}]");
    ASSERT(snli_ve_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "field \"image\" is not a string");
    bad = write_tmp("ve_bad.json", "[{\"image\": \"nope\", \"sentence\": \"s\", \"label\": \"neutral\"}]");
    ASSERT(snli_ve_read(bad, test_tmp_dir(), 1, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "nope.jpg\" does not exist");
}

TEST(test_nlvr2_reads_pairs_and_python_tuple_keys) {
    const char *path = write_tmp("nlvr.json",
                                 "[{\"images\": [\"dev/l.png\", \"dev/r.png\"], \"sentence\": \"s1\", \"label\": \"True\"},"
                                 " {\"images\": [\"it's.png\", \"b\\\\c.png\"], \"sentence\": \"s2\", \"label\": \"False\"}]");
    Nlvr2Split s;
    ASSERT_MSG(nlvr2_read(path, "/n", 0, &s) == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n, 2);
    ASSERT_EQ_INT(s.records[0].label, 1);
    ASSERT_EQ_INT(s.records[1].label, 0);
    ASSERT(strcmp(s.records[0].image_paths[1], "/n/dev/r.png") == 0);
    ASSERT(strcmp(s.records[0].pair_key, "('dev/l.png', 'dev/r.png')") == 0);
    /* Python: str(("it's.png", "b\\c.png")) == "(\"it's.png\", 'b\\\\c.png')" */
    ASSERT_MSG(strcmp(s.records[1].pair_key, "(\"it's.png\", 'b\\\\c.png')") == 0, "%s", s.records[1].pair_key);
    nlvr2_free(&s);

    const char *bad = write_tmp("nlvr_bad.json", "[{\"images\": [\"a\"], \"sentence\": \"s\", \"label\": \"True\"}]");
    ASSERT(nlvr2_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "field \"images\" has 1 entries, expected 2");
    bad = write_tmp("nlvr_bad.json", "[{\"images\": [\"a\", \"b\"], \"sentence\": \"s\", \"label\": \"true\"}]");
    ASSERT(nlvr2_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "unknown label \"true\"");
    bad = write_tmp("nlvr_bad.json", "[{\"images\": [\"a\", \"b\"], \"sentence\": \"s\", \"label\": true}]");
    ASSERT(nlvr2_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "field \"label\" is not a string");
    bad = write_tmp("nlvr_bad.json", "[{\"images\": [\"a\", 2], \"sentence\": \"s\", \"label\": \"True\"}]");
    ASSERT(nlvr2_read(bad, NULL, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "images[1] is not a non-empty string");
}

#define PGR_HEADER                                                                                                 \
    "FILE_ID\tSENTENCE\tGENE\tPHENOTYPE\tGENE_ID\tPHENOTYPE_ID\tGENE_START_POSITION\tGENE_END_POSITION\t"          \
    "PHENOTYPE_START_POSITION\tPHENOTYPE_END_POSITION\tRELATION\n"

TEST(test_pgr_tsv_unescapes_and_carries_offsets) {
    /* Row 1: offsets exact in the escaped text, with &lt; before the phenotype.
     * Row 2: the gene offsets point at the wrong text (as PMID 29179257 does). */
    const char *path = write_tmp("pgr.tsv", PGR_HEADER
                                 "111\tBRCA1 &lt;5% tumor\tBRCA1\ttumor\t672\tHP_0002664\t0\t5\t13\t18\tTrue\n"
                                 "222\tthe AA gene and ca in obesity\tAA\tobesity\t99\tHP:0001513\t16\t18\t22\t29\tFALSE\n");
    PgrTable t;
    ASSERT_MSG(pgr_read_tsv(path, &t) == 0, "%s", error_message());
    ASSERT_EQ_INT(t.n, 2);
    ASSERT(strcmp(t.rows[0].sentence, "BRCA1 <5% tumor") == 0);
    ASSERT_EQ_INT(t.rows[0].phen_start, 10);
    ASSERT_EQ_INT(t.rows[0].phen_end, 15);
    ASSERT(strncmp(t.rows[0].sentence + t.rows[0].phen_start, "tumor", 5) == 0);
    ASSERT(strcmp(t.rows[0].hpo_id, "HP:0002664") == 0);
    ASSERT_EQ_INT(t.rows[0].label, 1);
    ASSERT_EQ_INT(t.rows[1].label, 0);
    ASSERT_EQ_INT(t.rows[1].gene_start, 4);
    ASSERT_EQ_INT(t.rows[1].gene_end, 6);
    ASSERT_EQ_INT(t.n_offsets_repaired, 1);
    ASSERT_EQ_INT(t.n_offsets_unresolved, 0);
    ASSERT_EQ_INT(t.first_bad_row, 3);
    ASSERT_EQ_INT(t.rows[1].confirmation, 0);
    pgr_table_free(&t);
}

static int pgr_fails(const char *text, const char *needle) {
    const char *path = write_tmp("pgr_bad.tsv", text);
    PgrTable t;
    if (pgr_read_tsv(path, &t) == 0) {
        pgr_table_free(&t);
        fprintf(stderr, "  accepted: %s\n", text);
        return 0;
    }
    if (!strstr(error_message(), needle)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", error_message(), needle);
        return 0;
    }
    return 1;
}

TEST(test_pgr_tsv_malformed_rows_have_their_own_messages) {
    ASSERT(pgr_fails("", "empty file"));
    ASSERT(pgr_fails(PGR_HEADER, "no data rows"));
    ASSERT(pgr_fails("id\tsentence\n", "line 1: expected the header line"));
    ASSERT(pgr_fails(PGR_HEADER "1\ts\tg\n", "line 2: 3 columns, expected 11"));
    ASSERT(pgr_fails(PGR_HEADER "1\tg p\tg\tp\t5\tHP_1\t0\t1\t2\t3\tmaybe\n", "line 2: unknown RELATION label \"maybe\""));
    ASSERT(pgr_fails(PGR_HEADER "1\tg p\tg\tp\t5\tXP_1\t0\t1\t2\t3\tTrue\n", "PHENOTYPE_ID \"XP_1\" is not an HPO id"));
    ASSERT(pgr_fails(PGR_HEADER "1\tg p\tg\tp\tABC\tHP_1\t0\t1\t2\t3\tTrue\n", "GENE_ID \"ABC\" is not an NCBI"));
    ASSERT(pgr_fails(PGR_HEADER "1\tg p\tg\tp\t5\tHP_1\tx\t1\t2\t3\tTrue\n", "GENE_START_POSITION \"x\""));
    ASSERT(pgr_fails(PGR_HEADER "1\t\tg\tp\t5\tHP_1\t0\t1\t2\t3\tTrue\n", "column 2 (SENTENCE) is empty"));
    ASSERT(pgr_fails(PGR_HEADER "1\tg p\tg\tp\t5\tHP_1\t0\t1\t2\t3\tTrue\tX\n", "unknown CONFIRMATION \"X\""));
}

TEST(test_pgr_test_tsv_reads_confirmation_and_mixed_case_labels) {
    const char *path = write_tmp("pgr_test.tsv",
                                 PGR_HEADER "1\tg p\tg\tp\t5\tHP_0000001\t0\t1\t2\t3\tTRUE\tC\n"
                                            "2\tg p\tg\tp\t5\tHP_0000001\t0\t1\t2\t3\tfalse\tI\n");
    PgrTable t;
    ASSERT_MSG(pgr_read_tsv(path, &t) == 0, "%s", error_message());
    ASSERT_EQ_INT(t.rows[0].label, 1);
    ASSERT_EQ_INT(t.rows[0].confirmation, 'C');
    ASSERT_EQ_INT(t.rows[1].label, 0);
    ASSERT_EQ_INT(t.rows[1].confirmation, 'I');
    ASSERT_EQ_INT(t.n_offsets_repaired, 0);
    pgr_table_free(&t);
}

TEST(test_pgr_edges_canonicalise_and_drop_duplicates) {
    const char *path = write_tmp("edges.tsv", "# gene to phenotype\n"
                                              "NCBIGene:672\tHP_0002664\tgene_phenotype\n"
                                              "HP:0002664\tNCBIGene:672\tgene_phenotype\n"
                                              "\n"
                                              "NCBIGene:99\tHP:0001513\n");
    PgrEdgeList e;
    ASSERT_MSG(pgr_read_edges(path, &e) == 0, "%s", error_message());
    ASSERT_EQ_INT(e.n, 2);
    ASSERT_EQ_INT(e.n_duplicates, 1);
    ASSERT(strcmp(e.dst[0], "HP:0002664") == 0);
    ASSERT(strcmp(e.type[1], "") == 0);
    pgr_edges_free(&e);
    char *node = pgr_gene_node("4830");
    ASSERT(strcmp(node, "NCBIGene:4830") == 0);
    free(node);

    const char *bad = write_tmp("edges_bad.tsv", "4830\tHP:1\n");
    ASSERT(pgr_read_edges(bad, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "line 1: id \"4830\" has no type prefix");
    bad = write_tmp("edges_bad.tsv", "A:1\tA:1\n");
    ASSERT(pgr_read_edges(bad, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "self-loop on \"A:1\"");
    bad = write_tmp("edges_bad.tsv", "A:1\n");
    ASSERT(pgr_read_edges(bad, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "line 1: 1 columns, expected src<TAB>dst");
    bad = write_tmp("edges_bad.tsv", "# nothing\n");
    ASSERT(pgr_read_edges(bad, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "no edges");
    bad = write_tmp("edges_bad.tsv", "");
    ASSERT(pgr_read_edges(bad, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "empty file");
}
