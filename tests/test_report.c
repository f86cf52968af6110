/* Run-directory reports (eval/report.h): metrics.json parses back with the
 * numbers put in (MI fields null where not measured), the CSVs hold one record per pair with escaped captions,
 * report.md has the table and the reading, nothing is left as a temporary. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "eval/report.h"
#include "tests/test.h"

/* Records of an RFC 4180 file (newlines inside quotes do not end a record);
 * also checks that every record has `fields` fields. -1 on a mismatch. */
static int csv_records(const char *text, int fields) {
    int records = 0, in_quotes = 0, n_fields = 1;
    for (const char *c = text; *c; c++) {
        if (*c == '"') in_quotes = !in_quotes; /* a doubled quote toggles twice */
        else if (!in_quotes && *c == ',') n_fields++;
        else if (!in_quotes && *c == '\n') {
            if (n_fields != fields) return -1;
            records++;
            n_fields = 1;
        }
    }
    return records;
}

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static double field(const cJSON *models, const char *model, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, model), name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

TEST(test_report_writes_parseable_run_files) {
    /* 6 training pairs; Df = {1, 4}, Dr = 2 subsets of 2: {0, 2}, {3, 5} */
    const char *keys[6] = {"100", "100", "200", "200", "300", "300"};
    const char *texts[6] = {"a dog", "a dog, running", "say \"cheese\"", "two\nlines", "plain", "x,y"};
    const int64_t df_pairs[2] = {1, 4}, dr_pairs[4] = {0, 2, 3, 5};
    const double orig_df[2] = {0.9, 0.8}, orig_dr[4] = {0.7, 0.75, 0.85, 0.6};
    const double unl_df[2] = {0.2, 0.3}, unl_dr[4] = {0.71, 0.74, 0.86, 0.61};

    RunReport r;
    run_report_init(&r, "multidelete", keys, texts);
    r.n_df = 2;
    r.df_pairs = df_pairs;
    r.n_dr = 4;
    r.dr_pairs = dr_pairs;
    ModelResult *o = run_report_add(&r, "original");
    o->has_dt = 1;
    o->dt = (RetrievalRecall){.tr1 = 80, .tr5 = 95, .tr10 = 98, .tr_mean = 91, .ir1 = 60, .ir5 = 85, .ir10 = 90,
                              .ir_mean = 78.333333, .r_mean = 84.6666665};
    o->has_forget = 1;
    o->auc_code = 0.25;
    o->df_reported = 75.0;
    o->n_subsets = 2;
    o->auc_chunks[0] = 0.0, o->auc_chunks[1] = 0.5;
    o->auc_unseen = 0.1;
    o->df_vs_unseen = 90.0;
    o->dr_vs_unseen = 60.0;
    o->itm_df_reported = 70.0;
    o->itm_df_vs_unseen = 85.0;
    o->df_scores = orig_df;
    o->dr_scores = orig_dr;
    ASSERT(!o->has_mi && isnan(o->mi_ratio)); /* absent until set */
    const MiReport mi_orig = {.p_before = 0.6, .p_after = 0.6, .ratio = 1.0, .per_sample_ratio = 1.0,
                              .hard_before = 0.7, .hard_after = 0.7, .control_ratio = 1.0};
    model_result_set_mi(o, &mi_orig);
    ModelResult *u = run_report_add(&r, "unlearned");
    *u = *o;
    snprintf(u->name, sizeof u->name, "unlearned");
    u->dt.r_mean = 84.0;
    u->auc_code = 0.8;
    u->df_reported = 20.0;
    u->df_vs_unseen = 48.0;
    u->itm_df_reported = 30.0;
    u->itm_df_vs_unseen = 52.0;
    u->time_seconds = 12.5;
    u->df_scores = unl_df;
    u->dr_scores = unl_dr;
    const MiReport mi_unl = {.p_before = 0.6, .p_after = 0.48, .ratio = 1.25, .per_sample_ratio = 1.3,
                             .hard_before = 0.7, .hard_after = 0.4, .control_ratio = 1.02};
    model_result_set_mi(u, &mi_unl);
    ModelResult *rt = run_report_add(&r, "retrain"); /* Dt only, no scores */
    rt->has_dt = 1;
    rt->dt = o->dt;
    rt->time_seconds = 300.0;
    ASSERT(run_report_find(&r, "retrain") == rt);
    ASSERT(run_report_find(&r, "nope") == NULL);

    char dir[512], path[1024];
    test_tmp_path(dir, sizeof dir, "report_run/nested");
    ASSERT_MSG(run_report_write(&r, dir) == 0, "%s", error_message());
    ASSERT_EQ_INT(count_tmp_files(dir), 0);

    snprintf(path, sizeof path, "%s/metrics.json", dir);
    cJSON *root = json_read_file(path);
    ASSERT_MSG(root, "%s", error_message());
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    ASSERT(cJSON_IsObject(models));
    ASSERT_EQ_INT(cJSON_GetArraySize(models), 3);
    ASSERT_NEAR(field(models, "original", "TR@1"), 80, 1e-9);
    ASSERT_NEAR(field(models, "original", "IR@10"), 90, 1e-9);
    ASSERT_NEAR(field(models, "original", "tr_mean"), 91, 1e-9);
    ASSERT_NEAR(field(models, "unlearned", "r_mean"), 84, 1e-9);
    ASSERT_NEAR(field(models, "unlearned", "Df_reported"), 20, 1e-9);
    ASSERT_NEAR(field(models, "unlearned", "auc_code"), 0.8, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "df_vs_unseen"), 48, 1e-9);
    ASSERT_NEAR(field(models, "unlearned", "time_seconds"), 12.5, 1e-9);
    ASSERT_NEAR(field(models, "retrain", "time_seconds"), 300, 1e-9);
    /* not measured: null, not a made-up number */
    ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, "retrain"),
                                                         "Df_reported")));
    ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, "original"),
                                                         "time_seconds")));
    /* MI (spec §6.3): every field of the MiReport, null where not measured */
    ASSERT_NEAR(field(models, "original", "mi_ratio"), 1.0, 0);
    ASSERT_NEAR(field(models, "unlearned", "mi_p_before"), 0.6, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_p_after"), 0.48, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_ratio"), 1.25, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_per_sample_ratio"), 1.3, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_hard_before"), 0.7, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_hard_after"), 0.4, 1e-12);
    ASSERT_NEAR(field(models, "unlearned", "mi_control_ratio"), 1.02, 1e-12);
    const char *mi_fields[] = {"mi_p_before", "mi_p_after", "mi_ratio", "mi_per_sample_ratio", "mi_hard_before",
                               "mi_hard_after", "mi_control_ratio"};
    for (int k = 0; k < 7; k++)
        ASSERT_MSG(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, "retrain"),
                                                                 mi_fields[k])),
                   "retrain.%s should be null", mi_fields[k]);
    const cJSON *chunks =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, "original"), "auc_chunks");
    ASSERT_EQ_INT(cJSON_GetArraySize(chunks), 2);
    ASSERT_NEAR(cJSON_GetArrayItem(chunks, 1)->valuedouble, 0.5, 1e-12);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    ASSERT(cJSON_IsString(method) && strcmp(method->valuestring, "multidelete") == 0);
    ASSERT_NEAR(cJSON_GetObjectItemCaseSensitive(root, "n_dr")->valuedouble, 4, 0);
    cJSON_Delete(root);

    /* CSVs: header + one record per pair; pair, key, caption, original, unlearned */
    snprintf(path, sizeof path, "%s/scores_df.csv", dir);
    char *csv = file_read_all(path, NULL);
    ASSERT_MSG(csv, "%s", error_message());
    ASSERT_EQ_INT(csv_records(csv, 5), 1 + 2);
    ASSERT(strncmp(csv, "pair,image_key,caption,original,unlearned\n", 42) == 0);
    ASSERT_STR_CONTAINS(csv, "1,100,\"a dog, running\",0.9,0.2\n");
    ASSERT_STR_CONTAINS(csv, "4,300,plain,0.8,0.3\n");
    free(csv);
    snprintf(path, sizeof path, "%s/scores_dr.csv", dir);
    csv = file_read_all(path, NULL);
    ASSERT_MSG(csv, "%s", error_message());
    ASSERT_EQ_INT(csv_records(csv, 5), 1 + 4);
    ASSERT_STR_CONTAINS(csv, "2,200,\"say \"\"cheese\"\"\",0.75,0.74\n");
    ASSERT_STR_CONTAINS(csv, "3,200,\"two\nlines\",0.85,0.86\n");
    ASSERT_STR_CONTAINS(csv, "5,300,\"x,y\",0.6,0.61\n");
    free(csv);

    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = file_read_all(path, NULL);
    ASSERT_MSG(md, "%s", error_message());
    ASSERT_STR_CONTAINS(md, "| model | TR@1 |");
    ASSERT_STR_CONTAINS(md, "| unlearned | 80.00 | 95.00 | 98.00 |");
    ASSERT_STR_CONTAINS(md, "| Df vs unseen | Dr vs unseen | Df (ITM) | Df vs unseen (ITM) | MI ratio | time |");
    ASSERT_STR_CONTAINS(md, "| 84.00 | 20.00 | 0.8000 | 48.00 | 60.00 | 30.00 | 52.00 | 1.250 | 12.5s |");
    ASSERT_STR_CONTAINS(md, "| n/a | n/a | n/a | n/a | n/a | n/a | 5m00s |"); /* retrain: no Df, no MI */
    ASSERT_STR_CONTAINS(md, "MI ratio 1.250 (P(member) of Df 0.600 -> 0.480; Dr control ratio 1.020).");
    ASSERT_STR_CONTAINS(md, "| retrain |");
    /* the reading: the unlearned model forgot, kept utility, and looks unseen */
    ASSERT_STR_CONTAINS(md, "**unlearned**: Dt mean recall 84.00 (-0.67 against the original: utility kept)");
    ASSERT_STR_CONTAINS(md, "Df 20.00: the deleted pairs now score below the retained ones (forgotten)");
    ASSERT_STR_CONTAINS(md, "Df vs unseen 48.00: they look like pairs the model never saw");
    ASSERT_STR_CONTAINS(md, "Df 75.00: the deleted pairs still score above the retained ones (remembered)");
    free(md);

    /* stdout table: aligned columns, "-" where a value is absent */
    char tpath[512];
    test_tmp_path(tpath, sizeof tpath, "report_summary.txt");
    FILE *t = fopen(tpath, "w");
    ASSERT(t);
    run_report_print_summary(&r, t);
    fclose(t);
    char *table = file_read_all(tpath, NULL);
    ASSERT(table);
    ASSERT_STR_CONTAINS(table,
                        "model       TR mean   IR mean    R mean        Df  Df-vs-unseen    Df ITM  vs-unseen ITM"
                        "     MI ratio      time\n"
                        "original      91.00     78.33     84.67     75.00         90.00     70.00         85.00"
                        "        1.000         -\n"
                        "unlearned     91.00     78.33     84.00     20.00         48.00     30.00         52.00"
                        "        1.250     12.5s\n"
                        "retrain       91.00     78.33     84.67         -             -         -             -"
                        "            -     5m00s\n");
    ASSERT(strstr(table, "MI:") == NULL); /* the attacker's power was not measured */
    free(table);
    /* An attacker at chance: the ratios are marked uninformative, not printed as results. */
    r.mi_power = 0.51;
    t = fopen(tpath, "w");
    ASSERT(t);
    run_report_print_summary(&r, t);
    fclose(t);
    table = file_read_all(tpath, NULL);
    ASSERT(table);
    ASSERT_STR_CONTAINS(table, "    uninform.     12.5s\n");
    ASSERT(strstr(table, "1.250") == NULL);
    ASSERT_STR_CONTAINS(table, "the attacker is at chance on the original (AUC 0.510");
    free(table);
}

TEST(test_report_csv_field_escapes_only_when_needed) {
    char tpath[512];
    test_tmp_path(tpath, sizeof tpath, "csv_field.txt");
    FILE *f = fopen(tpath, "w");
    ASSERT(f);
    report_csv_field(f, "plain words");
    fputc('|', f);
    report_csv_field(f, "he said \"hi\", then left");
    fputc('|', f);
    report_csv_field(f, "cr\rlf");
    fclose(f);
    char *text = file_read_all(tpath, NULL);
    ASSERT(text);
    int ok = strcmp(text, "plain words|\"he said \"\"hi\"\", then left\"|\"cr\rlf\"") == 0;
    free(text);
    ASSERT(ok);
}
