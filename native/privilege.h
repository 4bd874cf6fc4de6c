/*
 * Whether this process is root in the sense hatchery's root path needs: euid
 * 0 holding the capabilities it uses to give each operation a uid of its own
 * (switch ids, hand it a temp dir, signal and clean up after it). A root
 * with them dropped (Kubernetes' runAsUser: 0 with capabilities drop ALL) is
 * an unprivileged caller whose uid happens to be 0.
 */
#ifndef HATCHERY_PRIVILEGE_H
#define HATCHERY_PRIVILEGE_H

#include <stdint.h>

/* CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID: all in Docker's default set. */
#define HATCH_ROOT_CAPS ((1ull << 0) | (1ull << 1) | (1ull << 3) | (1ull << 5) | (1ull << 6) | (1ull << 7))
#define HATCH_CAP_SYS_ADMIN 21

/* Every capability of mask is in the effective set (1), or not (0). */
int hatch_has_caps(uint64_t mask);
/* euid 0 with HATCH_ROOT_CAPS. */
int hatch_privileged(void);

#endif
