/* The message the POLYLITH example's beads exchange. */
#ifndef READING_H
#define READING_H

struct reading {
    int seq;       /* 0, 1, 2, ... from the sensor; -1 ends the stream */
    int version;   /* which compute version transformed it (0: raw) */
    double value;
};

#endif
