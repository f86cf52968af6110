/* bin/embed --task: the representations a task's model gives the items of a
 * deletion request's splits (programs/embed_task.c). */
#ifndef PROGRAMS_EMBED_TASK_H
#define PROGRAMS_EMBED_TASK_H

/* The whole program in task mode (argv as main got it); returns its exit status. */
int embed_task_main(int argc, char **argv);

#endif
