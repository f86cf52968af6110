/* Deletion lists and Df/Dr (spec/unlearning_methods.md §1.1-1.3, §6.2). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/deletion.h"
#include "tests/test.h"

static const char *write_list(const char *name, const char *text) {
    static char path[512];
    test_tmp_path(path, sizeof path, name);
    CHECK(file_write_atomic(path, text, strlen(text)) == 0, "%s", error_message());
    return path;
}

/* 6 images x 5 captions, keys img0..img5. */
static const char *const *train_keys(void) {
    static char buf[30][8];
    static const char *keys[30];
    for (int i = 0; i < 30; i++) {
        snprintf(buf[i], sizeof buf[i], "img%d", i / 5);
        keys[i] = buf[i];
    }
    return keys;
}

TEST(test_deletion_list_uses_first_k_ids_stripped_blank_lines_not_counted) {
    const char *path = write_list("del.txt", "  img3 \n\nimg0\r\nimg5\nimg1\n");
    DeletionList l;
    ASSERT_MSG(deletion_list_read(path, 4, &l) == 0, "%s", error_message());
    ASSERT_EQ_INT(l.n, 4); /* --df-size 4 deletes 4 units: the blank line 2 does not count */
    ASSERT(strcmp(l.ids[3], "img1") == 0);
    ASSERT_EQ_INT(l.line[3], 5);
    deletion_list_free(&l);
    ASSERT_MSG(deletion_list_read(path, 3, &l) == 0, "%s", error_message());
    ASSERT_EQ_INT(l.n, 3);
    ASSERT(strcmp(l.ids[0], "img3") == 0 && strcmp(l.ids[1], "img0") == 0 && strcmp(l.ids[2], "img5") == 0);
    ASSERT_EQ_INT(l.line[2], 4);
    DeletionSplit s;
    ASSERT_MSG(deletion_split(&l, train_keys(), 30, 0, &s) == 0, "%s", error_message());
    ASSERT_EQ_INT(s.n_df, 15);
    ASSERT_EQ_INT(s.n_dr, 15);
    ASSERT_EQ_INT(s.n_units, 3);
    ASSERT_EQ_INT(s.df[0], 0);
    ASSERT_EQ_INT(s.df[5], 15);
    ASSERT_EQ_INT(s.dr[0], 5);
    deletion_split_free(&s);
    deletion_list_free(&l);
}

TEST(test_deletion_list_errors_name_the_problem) {
    DeletionList l;
    const char *path = write_list("del_dup.txt", "img1\nimg2\nimg1\n");
    ASSERT(deletion_list_read(path, 3, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "line 3: id \"img1\" is listed twice (first on line 1)");
    ASSERT(deletion_list_read(path, 2, &l) == 0); /* the duplicate lies beyond k */
    deletion_list_free(&l);
    path = write_list("del_short.txt", "img1\nimg2\nimg3\n");
    ASSERT(deletion_list_read(path, 4, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "k = 4 is larger than the list, which has 3 ids");
    path = write_list("del_short_blank.txt", "img1\n\nimg2\n");
    ASSERT(deletion_list_read(path, 3, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "k = 3 is larger than the list, which has 2 ids");
    path = write_list("del_empty.txt", "\n  \n");
    ASSERT(deletion_list_read(path, 2, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "empty deletion list");
    path = write_list("del_none.txt", "");
    ASSERT(deletion_list_read(path, 1, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "empty deletion list: no ids in its 0 lines");
    ASSERT(deletion_list_read(path, 0, &l) < 0);
    ASSERT_STR_CONTAINS(error_message(), "must be at least 1");
}

TEST(test_deletion_unknown_ids_stop_unless_skipping_is_allowed) {
    const char *path = write_list("del_unknown.txt", "img2\nghost1\nghost2\nimg4\nghost3\nghost4\n");
    DeletionList l;
    ASSERT(deletion_list_read(path, 6, &l) == 0);
    DeletionSplit s;
    ASSERT(deletion_split(&l, train_keys(), 30, 0, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "4 of 6 ids match no training pair");
    ASSERT_STR_CONTAINS(error_message(), "\"ghost1\" (line 2), \"ghost2\" (line 3), \"ghost3\" (line 5), ...");
    ASSERT(deletion_split(&l, train_keys(), 30, 1, &s) == 0);
    ASSERT_EQ_INT(s.n_unknown, 4);
    ASSERT_EQ_INT(s.n_units, 2);
    ASSERT_EQ_INT(s.n_df, 10);
    ASSERT_EQ_INT(s.n_dr, 20);
    deletion_split_free(&s);
    deletion_list_free(&l);
    path = write_list("del_allghost.txt", "ghost\n");
    ASSERT(deletion_list_read(path, 1, &l) == 0);
    ASSERT(deletion_split(&l, train_keys(), 30, 1, &s) < 0);
    ASSERT_STR_CONTAINS(error_message(), "Df is empty");
    deletion_list_free(&l);
}

TEST(test_deletion_eval_sets_are_disjoint_seeded_dr_samples) {
    const char *path = write_list("del_eval.txt", "img1\n");
    DeletionList l;
    ASSERT(deletion_list_read(path, 1, &l) == 0);
    DeletionSplit s;
    ASSERT(deletion_split(&l, train_keys(), 30, 0, &s) == 0);
    DeletionEvalSets e, e2, e3;
    ASSERT_MSG(deletion_eval_sets(&s, DELETION_EVAL_SUBSETS, 42, &e) == 0, "%s", error_message());
    ASSERT_EQ_INT(e.n_df, 5);
    char seen[30] = {0};
    for (int i = 0; i < 25; i++) {
        int64_t p = e.dr_subsets[i];
        ASSERT(p >= 0 && p < 30);
        ASSERT(p < 5 || p >= 10); /* never a Df pair */
        ASSERT(!seen[p]);         /* disjoint */
        seen[p] = 1;
    }
    ASSERT(deletion_eval_sets(&s, 5, 42, &e2) == 0);
    ASSERT(memcmp(e.dr_subsets, e2.dr_subsets, 25 * sizeof(int64_t)) == 0);
    ASSERT(deletion_eval_sets(&s, 5, 7, &e3) == 0);
    ASSERT(memcmp(e.dr_subsets, e3.dr_subsets, 25 * sizeof(int64_t)) != 0);
    deletion_eval_sets_free(&e);
    deletion_eval_sets_free(&e2);
    deletion_eval_sets_free(&e3);
    deletion_split_free(&s);
    deletion_list_free(&l);
    /* 2 of 6 images deleted: Dr has 20 < 5 x 10 pairs. */
    path = write_list("del_eval2.txt", "img1\nimg2\n");
    ASSERT(deletion_list_read(path, 2, &l) == 0);
    ASSERT(deletion_split(&l, train_keys(), 30, 0, &s) == 0);
    ASSERT(deletion_eval_sets(&s, 5, 42, &e) < 0);
    ASSERT_STR_CONTAINS(error_message(), "Dr has 20 pairs, fewer than 5 x |Df| = 50");
    deletion_split_free(&s);
    deletion_list_free(&l);
}

TEST(test_deletion_list_generate_is_seeded_and_without_replacement) {
    const char **ids;
    int64_t n = deletion_unique_keys(train_keys(), 30, 1, &ids);
    ASSERT_EQ_INT(n, 6);
    ASSERT(strcmp(ids[0], "img0") == 0 && strcmp(ids[5], "img5") == 0);
    char p1[512], p2[512], p3[512];
    test_tmp_path(p1, sizeof p1, "gen1.txt");
    test_tmp_path(p2, sizeof p2, "gen2.txt");
    test_tmp_path(p3, sizeof p3, "gen3.txt");
    ASSERT(deletion_list_generate(ids, n, 4, 42, p1) == 0);
    ASSERT(deletion_list_generate(ids, n, 4, 42, p2) == 0);
    ASSERT(deletion_list_generate(ids, n, 6, 43, p3) == 0);
    char *a = file_read_all(p1, NULL), *b = file_read_all(p2, NULL), *c = file_read_all(p3, NULL);
    ASSERT(strcmp(a, b) == 0);
    ASSERT(strcmp(a, c) != 0);
    DeletionList l;
    ASSERT(deletion_list_read(p1, 4, &l) == 0); /* also proves: no duplicates */
    ASSERT_EQ_INT(l.n, 4);
    deletion_list_free(&l);
    ASSERT(deletion_list_read(p3, 6, &l) == 0); /* k = n: a permutation */
    deletion_list_free(&l);
    free(a);
    free(b);
    free(c);
    ASSERT(deletion_list_generate(ids, n, 7, 42, p1) < 0);
    ASSERT_STR_CONTAINS(error_message(), "cannot draw k = 7 ids from a list of 6");
    const char *dup[3] = {"a", "b", "a"};
    ASSERT(deletion_list_generate(dup, 3, 1, 42, p1) < 0);
    ASSERT_STR_CONTAINS(error_message(), "id \"a\" appears twice in the population (positions 0 and 2)");
    free(ids);
    /* NLVR2 keeps first-appearance order (§1.2 item 1). */
    const char *pairs[4] = {"z", "a", "z", "m"};
    n = deletion_unique_keys(pairs, 4, 0, &ids);
    ASSERT_EQ_INT(n, 3);
    ASSERT(strcmp(ids[0], "z") == 0 && strcmp(ids[2], "m") == 0);
    free(ids);
}
