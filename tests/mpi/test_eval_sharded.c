/* Sharded evaluation (eval/retrieval_eval.c): the Dt retrieval protocol on
 * the ranks, each embedding and reranking its share of whole batches, gives
 * the same bits as one rank (a solo section) for the ITC matrix, both score
 * matrices and the recall, with batch sizes that leave a rank without a
 * batch and a last batch short. */
#include <stdlib.h>

#include "core/comm.h"
#include "core/error.h"
#include "eval/retrieval_eval.h"
#include "tests/eval_world.h"
#include "tests/test.h"

TEST(test_retrieval_eval_sharded_equals_one_rank) {
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    Albef m;
    ASSERT_MSG(eval_world_model(&m, tok, 5) == 0, "%s", error_message());
    RetrievalSet s;
    ASSERT_MSG(eval_world_set(&s, "test", tok, &m.cfg) == 0, "%s", error_message());
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = 4;
    o.image_batch = 4;
    o.text_batch = 7;
    o.pair_batch = 5;
    o.progress = 0;
    o.keep_itc = 1;
    o.keep_scores = 1;
    RetrievalEvalResult ref, dp;
    comm_solo_begin();
    ASSERT_MSG(retrieval_eval_run(&m, &s, &o, &ref) == 0, "%s", error_message());
    comm_solo_end();
    ASSERT_MSG(retrieval_eval_run(&m, &s, &o, &dp) == 0, "%s", error_message());
    size_t cells = (size_t)(ref.n_images * ref.n_texts) * sizeof(float);
    ASSERT(memcmp(dp.itc, ref.itc, cells) == 0);
    ASSERT(memcmp(dp.i2t, ref.i2t, cells) == 0);
    ASSERT(memcmp(dp.t2i, ref.t2i, cells) == 0);
    ASSERT(memcmp(&dp.recall, &ref.recall, sizeof ref.recall) == 0);
    ASSERT_EQ_INT(dp.n_itm_pairs, ref.n_itm_pairs);
    retrieval_eval_result_free(&ref);
    retrieval_eval_result_free(&dp);
    retrieval_set_free(&s);
    albef_free(&m);
    tokenizer_free(tok);
}
