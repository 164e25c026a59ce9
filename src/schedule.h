/* schedule.h: the engine's private side of schedules: the clock they run on (which tests
 * replace, so a simulated day takes seconds) and what the API and the scheduler share. */
#ifndef FPQ_SCHEDULE_H
#define FPQ_SCHEDULE_H

#include <jansson.h>
#include <stdint.h>

#include "cron.h"
#include "fpq.h"

/* "Now" for everything about schedules: fire times, the leader lease, a schedule's
 * creation and resumption. It is fpq__now() unless a test replaced it, either with
 * fpq__set_schedule_clock (C tests) or, for whole processes, with the environment
 * variable FPQ_TEST_CLOCK_FILE naming a file that holds the current time as epoch
 * seconds (re-read on every call). Jobs, workers and their leases keep the real clock. */
double fpq__schedule_now(void);
/* Makes fpq__schedule_now return now() (NULL: back to the default). Not thread-safe:
 * set it before starting anything that reads it. */
void fpq__set_schedule_clock(double (*now)(void));
/* 1 when FPQ_TEST_CLOCK_FILE drives the clock (the scheduler loop then polls it instead
 * of sleeping a whole tick). */
int fpq__schedule_clock_is_simulated(void);

/* Checks every field of a schedule about to be stored, the trigger and zone included.
 * 0, or FPQ_EINVAL with one line in msg naming the bad field. */
int fpq__schedule_validate(const fpq_schedule *s, char *msg, size_t msglen);
/* Parses the schedule's trigger in its zone, anchored at its creation (the phase of an
 * interval). The caller frees *out with fpq__trigger_free. */
int fpq__schedule_trigger(const fpq_schedule *s, fpq__trigger **out, char *msg, size_t msglen);
/* The JSON form as a jansson object (new reference), NULL when out of memory. */
json_t *fpq__schedule_to_object(const fpq_schedule *s);

#endif /* FPQ_SCHEDULE_H */
