/* The bin/embed --task check (tests/test_embed_task.c), shared with the PGR
 * program tests, which own the corpus slice. */
#ifndef TESTS_EMBED_TASK_CHECK_H
#define TESTS_EMBED_TASK_CHECK_H

/* Trains a checkpoint (bin/train --epochs 1), embeds Df, Dr and the test
 * split with it and checks the file; for a task with labels, the test
 * split's argmax accuracy against bin/evaluate's. `common`: the task, data
 * and model flags; image_per_item: image-side blocks per item (0: unchecked);
 * check_reuse: also check that the finished run is reused, and redone for
 * another model under the same checkpoint path. */
void check_embed_task(const char *task, const char *common, int n_classes, int image_per_item, int check_reuse);

#endif
