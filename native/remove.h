/* Removing a temp dir a sandbox filled (see remove.c). */
#ifndef HATCHERY_REMOVE_H
#define HATCHERY_REMOVE_H

/* Empties the directory at path: 0, or -errno of the step that could not be done. Never follows a link. */
int hatch_empty_tree(const char *path);

#endif
