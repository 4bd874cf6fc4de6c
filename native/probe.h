/* `hatchery-zygote --probe`: what this kernel and process really allow (see probe.c). */
#ifndef HATCHERY_PROBE_H
#define HATCHERY_PROBE_H

int hatch_probe_main(int argc, char **argv);

#endif
