/* mpi_dtreduce: reductions over non-contiguous derived datatypes — a
 * vector of ints, a resized struct of two doubles with a gap, an indexed
 * type, a contiguous type — in Allreduce, Reduce, Reduce_scatter_block,
 * Reduce_scatter, Scan, Exscan and their non-blocking forms, with
 * MPI_IN_PLACE. The operations are user operations, commutative or not,
 * which see the data laid out as the type says (MPICH, as the standard,
 * defines the predefined operations on predefined types only). The gaps
 * between the elements must come back untouched. One line per rank,
 * compared with MPICH's output. */
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static long mix(long h, long v)
{
    return (h * 131 + v) % 1000000007L;
}

/* Over a vector(2, 1, 2) of ints resized to 3: each element (m, _, c) is
 * the map x -> m * x + c, and the operation composes maps (first in,
 * then inout): associative, not commutative. The function walks the
 * type's layout itself, as a user function must. */
static void compose(void *in, void *inout, int *len, MPI_Datatype *t)
{
    (void)t;
    int *a = in, *b = inout;
    for (int k = 0; k < *len; k++) {
        int m1 = a[3 * k], c1 = a[3 * k + 2], m2 = b[3 * k], c2 = b[3 * k + 2];
        b[3 * k] = m1 * m2;
        b[3 * k + 2] = m2 * c1 + c2;
    }
}

/* Over vector(3, 1, 2) of ints: values at ints 0, 2, 4 of every 5. */
#define VEC_OP(name, expr)                                                                    \
    static void name(void *in, void *inout, int *len, MPI_Datatype *t)                        \
    {                                                                                         \
        (void)t;                                                                              \
        int *a = in, *b = inout;                                                              \
        for (int k = 0; k < *len; k++)                                                        \
            for (int j = 0; j < 3; j++) {                                                     \
                int x = a[5 * k + 2 * j], y = b[5 * k + 2 * j];                               \
                b[5 * k + 2 * j] = (expr);                                                    \
            }                                                                                 \
    }
VEC_OP(vec_sum, x + y)
VEC_OP(vec_max, x > y ? x : y)
VEC_OP(vec_band, x & y)
VEC_OP(vec_first, x) /* the leftmost operand: not commutative */

/* Over indexed {2 at 0, 1 at 4} of ints: ints 0, 1, 4 of every 5. */
#define IDX_OP(name, expr)                                                                    \
    static void name(void *in, void *inout, int *len, MPI_Datatype *t)                        \
    {                                                                                         \
        (void)t;                                                                              \
        static const int at[3] = {0, 1, 4};                                                   \
        int *a = in, *b = inout;                                                              \
        for (int k = 0; k < *len; k++)                                                        \
            for (int j = 0; j < 3; j++) {                                                     \
                int x = a[5 * k + at[j]], y = b[5 * k + at[j]];                               \
                b[5 * k + at[j]] = (expr);                                                    \
            }                                                                                 \
    }
IDX_OP(idx_sum, x + y)
IDX_OP(idx_prod, x * y)
IDX_OP(idx_min, x < y ? x : y)

static void four_max(void *in, void *inout, int *len, MPI_Datatype *t)
{
    (void)t;
    int *a = in, *b = inout;
    for (int k = 0; k < 4 * *len; k++)
        b[k] = a[k] > b[k] ? a[k] : b[k];
}

struct pt {
    double x;
    int pad;
    double y;
};

#define PT_OP(name, expr)                                                                     \
    static void name(void *in, void *inout, int *len, MPI_Datatype *t)                        \
    {                                                                                         \
        (void)t;                                                                              \
        struct pt *a = in, *b = inout;                                                        \
        for (int k = 0; k < *len; k++) {                                                      \
            double x = a[k].x, y = b[k].x;                                                    \
            b[k].x = (expr);                                                                  \
            x = a[k].y, y = b[k].y;                                                           \
            b[k].y = (expr);                                                                  \
        }                                                                                     \
    }
PT_OP(pt_min, x < y ? x : y)
PT_OP(pt_sum, x + y)
PT_OP(pt_max, x > y ? x : y)

static MPI_Op op_of(MPI_User_function *fn, int commute)
{
    MPI_Op op;
    MPI_Op_create(fn, commute, &op);
    return op;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long h = 0;
    MPI_Op VSUM = op_of(vec_sum, 1), VMAX = op_of(vec_max, 1), VBAND = op_of(vec_band, 1),
           VFIRST = op_of(vec_first, 0), ISUM = op_of(idx_sum, 1), IPROD = op_of(idx_prod, 1),
           IMIN = op_of(idx_min, 1), FMAX = op_of(four_max, 1), PMIN = op_of(pt_min, 1),
           PSUM = op_of(pt_sum, 1), PMAX = op_of(pt_max, 1);

    /* Every other int of 6: 3 values per element. */
    MPI_Datatype vec;
    MPI_Type_vector(3, 1, 2, MPI_INT, &vec);
    MPI_Type_commit(&vec);
    int vin[12], vout[12];
    for (int k = 0; k < 12; k++) {
        vin[k] = k % 2 ? -7 : rank * 3 + k;
        vout[k] = -9;
    }
    /* Elements of vec step by its extent, 5 ints: two of them cover 10. */
    MPI_Allreduce(vin, vout, 2, vec, VSUM, MPI_COMM_WORLD);
    for (int k = 0; k < 12; k++)
        h = mix(h, vout[k]);
    MPI_Reduce(vin, vout, 2, vec, VFIRST, size - 1, MPI_COMM_WORLD);
    if (rank == size - 1)
        for (int k = 0; k < 12; k++)
            h = mix(h, vout[k]);

    /* A struct of two doubles with an int between them, not reduced. */
    struct pt p[3], q[3];
    int lens[2] = {1, 1};
    MPI_Aint displs[2] = {offsetof(struct pt, x), offsetof(struct pt, y)};
    MPI_Datatype types[2] = {MPI_DOUBLE, MPI_DOUBLE}, pts, ptr;
    MPI_Type_create_struct(2, lens, displs, types, &pts);
    MPI_Type_create_resized(pts, 0, sizeof(struct pt), &ptr);
    MPI_Type_commit(&ptr);
    for (int k = 0; k < 3; k++) {
        p[k] = (struct pt){rank + k * 0.5, 1000 + rank, -rank * (k + 1.0)};
        q[k] = (struct pt){0, -1, 0};
    }
    MPI_Allreduce(p, q, 3, ptr, PMIN, MPI_COMM_WORLD);
    for (int k = 0; k < 3; k++)
        h = mix(mix(mix(h, (long)(q[k].x * 10)), q[k].pad), (long)(q[k].y * 10));
    MPI_Allreduce(MPI_IN_PLACE, p, 3, ptr, PSUM, MPI_COMM_WORLD);
    for (int k = 0; k < 3; k++)
        h = mix(mix(mix(h, (long)(p[k].x * 10)), p[k].pad), (long)(p[k].y * 10));

    /* An indexed type: ints 0-1 and 4 of every 6 (extent 5). */
    int ilens[2] = {2, 1}, idispls[2] = {0, 4};
    MPI_Datatype idx;
    MPI_Type_indexed(2, ilens, idispls, MPI_INT, &idx);
    MPI_Type_commit(&idx);
    int *iin = malloc(sizeof(int) * 5 * size), iout[5] = {-1, -1, -1, -1, -1};
    for (int k = 0; k < 5 * size; k++)
        iin[k] = k + rank;
    MPI_Reduce_scatter_block(iin, iout, 1, idx, ISUM, MPI_COMM_WORLD);
    for (int k = 0; k < 5; k++)
        h = mix(h, iout[k]);
    int *counts = malloc(sizeof(int) * size);
    for (int k = 0; k < size; k++)
        counts[k] = k == 0 ? 1 : 0;
    int rs[5] = {-2, -2, -2, -2, -2};
    MPI_Reduce_scatter(iin, rs, counts, idx, IPROD, MPI_COMM_WORLD);
    for (int k = 0; k < 5; k++)
        h = mix(h, rs[k]);

    /* Scan and Exscan over the vector; a contiguous type with MAX. */
    int sc[12], ex[12];
    for (int k = 0; k < 12; k++)
        sc[k] = ex[k] = -5;
    MPI_Scan(vin, sc, 2, vec, VFIRST, MPI_COMM_WORLD);
    MPI_Exscan(vin, ex, 2, vec, VSUM, MPI_COMM_WORLD);
    for (int k = 0; k < 12; k++)
        h = mix(mix(h, sc[k]), rank ? ex[k] : 0);
    MPI_Datatype four;
    MPI_Type_contiguous(4, MPI_INT, &four);
    MPI_Type_commit(&four);
    int c4[8], m4[8];
    for (int k = 0; k < 8; k++)
        c4[k] = (k * 7 + rank * 5) % 11;
    MPI_Allreduce(c4, m4, 2, four, FMAX, MPI_COMM_WORLD);
    for (int k = 0; k < 8; k++)
        h = mix(h, m4[k]);

    /* Non-blocking forms, all in flight at once. */
    int nv[12], nr[12], ns[12], nrs[5];
    struct pt np[3];
    for (int k = 0; k < 12; k++)
        nv[k] = nr[k] = ns[k] = -3;
    for (int k = 0; k < 5; k++)
        nrs[k] = -3;
    for (int k = 0; k < 3; k++)
        np[k] = (struct pt){rank * 1.5, 77, k - rank * 2.0};
    MPI_Request rq[5];
    MPI_Iallreduce(vin, nv, 2, vec, VBAND, MPI_COMM_WORLD, &rq[0]);
    MPI_Ireduce(vin, nr, 2, vec, VFIRST, 0, MPI_COMM_WORLD, &rq[1]);
    MPI_Iscan(vin, ns, 2, vec, VMAX, MPI_COMM_WORLD, &rq[2]);
    MPI_Ireduce_scatter_block(iin, nrs, 1, idx, IMIN, MPI_COMM_WORLD, &rq[3]);
    MPI_Iallreduce(MPI_IN_PLACE, np, 3, ptr, PMAX, MPI_COMM_WORLD, &rq[4]);
    MPI_Waitall(5, rq, MPI_STATUSES_IGNORE);
    for (int k = 0; k < 12; k++)
        h = mix(mix(mix(h, nv[k]), rank == 0 ? nr[k] : 0), ns[k]);
    for (int k = 0; k < 5; k++)
        h = mix(h, nrs[k]);
    for (int k = 0; k < 3; k++)
        h = mix(mix(mix(h, (long)(np[k].x * 10)), np[k].pad), (long)(np[k].y * 10));

    /* A user operation over a vector type. */
    MPI_Datatype v2_tight, v2;
    MPI_Type_vector(2, 1, 2, MPI_INT, &v2_tight);
    MPI_Type_create_resized(v2_tight, 0, 3 * sizeof(int), &v2);
    MPI_Type_commit(&v2);
    MPI_Op op;
    MPI_Op_create(compose, 0, &op);
    int uin[6], uout[6];
    for (int k = 0; k < 6; k++) {
        uin[k] = k % 3 == 1 ? 99 : k % 3 == 0 ? rank % 2 + 1 : rank - k;
        uout[k] = -4;
    }
    MPI_Allreduce(uin, uout, 2, v2, op, MPI_COMM_WORLD);
    for (int k = 0; k < 6; k++)
        h = mix(h, uout[k]);
    MPI_Op_free(&op);

    printf("rank %d: checksum %ld, vector sum %d %d %d %d, gap %d, min.y %.1f, scan %d\n",
           rank, h, vout[0], vout[1], vout[2], vout[5], q[1].pad, q[2].y, sc[4]);
    MPI_Op all_ops[] = {VSUM, VMAX, VBAND, VFIRST, ISUM, IPROD, IMIN, FMAX, PMIN, PSUM, PMAX};
    for (int k = 0; k < 11; k++)
        MPI_Op_free(&all_ops[k]);
    MPI_Type_free(&vec);
    MPI_Type_free(&pts);
    MPI_Type_free(&ptr);
    MPI_Type_free(&idx);
    MPI_Type_free(&four);
    MPI_Type_free(&v2);
    MPI_Type_free(&v2_tight);
    free(iin);
    free(counts);
    MPI_Finalize();
    return 0;
}
