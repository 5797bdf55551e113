/* mpi_types: derived datatypes — a matrix column (vector), an array of C
 * structs (create_struct with Get_address, padded extent), an indexed
 * type, a 2-D subarray, a resized type, a contiguous type in a reduction,
 * a struct type broadcast, and Pack/Unpack sent as MPI_PACKED. One line
 * per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

struct particle {
    int id;
    double mass;
    char tag[3];
};

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    char line[2048];
    int n = snprintf(line, sizeof line, "rank %d:", rank);

    /* A column of a 4x5 matrix. */
    int m[4][5], col[4][5];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            m[i][j] = rank * 100 + i * 10 + j;
            col[i][j] = -1;
        }
    MPI_Datatype column;
    MPI_Type_vector(4, 1, 5, MPI_INT, &column);
    MPI_Type_commit(&column);
    MPI_Sendrecv(&m[0][2], 1, column, right, 1, &col[0][3], 1, column, left, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " col %d %d %d %d other %d", col[0][3], col[1][3],
                  col[2][3], col[3][3], col[0][0]);

    /* An array of structs. */
    struct particle ps[3], got[3];
    memset(got, 0, sizeof got);
    for (int k = 0; k < 3; k++) {
        ps[k].id = rank * 10 + k;
        ps[k].mass = rank + k * 0.25;
        memcpy(ps[k].tag, "ab", 3);
        ps[k].tag[1] = (char)('a' + k);
    }
    MPI_Aint base, addrs[3];
    MPI_Get_address(&ps[0], &base);
    MPI_Get_address(&ps[0].id, &addrs[0]);
    MPI_Get_address(&ps[0].mass, &addrs[1]);
    MPI_Get_address(&ps[0].tag, &addrs[2]);
    for (int k = 0; k < 3; k++)
        addrs[k] -= base;
    int lens[3] = {1, 1, 3};
    MPI_Datatype types[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR}, ptype;
    MPI_Type_create_struct(3, lens, addrs, types, &ptype);
    MPI_Type_commit(&ptype);
    MPI_Aint lb, extent, tlb, textent;
    int tsize;
    MPI_Type_get_extent(ptype, &lb, &extent);
    MPI_Type_get_true_extent(ptype, &tlb, &textent);
    MPI_Type_size(ptype, &tsize);
    MPI_Sendrecv(ps, 3, ptype, right, 2, got, 3, ptype, left, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " struct size %d extent %ld/%ld true %ld/%ld got", tsize,
                  (long)lb, (long)extent, (long)tlb, (long)textent);
    for (int k = 0; k < 3; k++)
        n += snprintf(line + n, sizeof line - n, " %d:%.2f:%s", got[k].id, got[k].mass, got[k].tag);

    /* Indexed: elements 0-1 and 5-7 of a vector of doubles; Get_count. */
    double v[8], w[8];
    for (int k = 0; k < 8; k++) {
        v[k] = rank + k / 10.0;
        w[k] = 0;
    }
    int blens[2] = {2, 3}, disps[2] = {0, 5};
    MPI_Datatype idx;
    MPI_Type_indexed(2, blens, disps, MPI_DOUBLE, &idx);
    MPI_Type_commit(&idx);
    MPI_Status st;
    MPI_Sendrecv(v, 1, idx, right, 3, w, 1, idx, left, 3, MPI_COMM_WORLD, &st);
    int cnt, dcnt;
    MPI_Get_count(&st, idx, &cnt);
    MPI_Get_count(&st, MPI_DOUBLE, &dcnt);
    n += snprintf(line + n, sizeof line - n, " idx %.1f %.1f %.1f %.1f %.1f %.1f count %d %d", w[0],
                  w[1], w[2], w[5], w[6], w[7], cnt, dcnt);

    /* A 2x2 block at (1,2) of a 4x5 matrix. */
    int sizes[2] = {4, 5}, subs[2] = {2, 2}, starts[2] = {1, 2}, blk[4] = {0, 0, 0, 0};
    MPI_Datatype sub;
    MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C, MPI_INT, &sub);
    MPI_Type_commit(&sub);
    MPI_Sendrecv(m, 1, sub, right, 4, blk, 4, MPI_INT, left, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " sub %d %d %d %d", blk[0], blk[1], blk[2], blk[3]);

    /* Every other int, by a resized type. */
    MPI_Datatype every_other;
    MPI_Type_create_resized(MPI_INT, 0, 2 * sizeof(int), &every_other);
    MPI_Type_commit(&every_other);
    int src[6] = {rank, 1, rank + 2, 3, rank + 4, 5}, dst[3] = {0, 0, 0};
    MPI_Sendrecv(src, 3, every_other, right, 5, dst, 3, MPI_INT, left, 5, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " resized %d %d %d", dst[0], dst[1], dst[2]);

    /* A contiguous type sent, and a struct broadcast. */
    MPI_Datatype pair;
    MPI_Type_contiguous(2, MPI_LONG, &pair);
    MPI_Type_commit(&pair);
    long two[2] = {rank, 2 * rank}, sum[2] = {0, 0};
    MPI_Sendrecv(two, 1, pair, right, 7, sum, 2, MPI_LONG, left, 7, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    struct particle b[3];
    memcpy(b, ps, sizeof b);
    MPI_Bcast(b, 3, ptype, size - 1, MPI_COMM_WORLD);
    n += snprintf(line + n, sizeof line - n, " pairsum %ld %ld bcast %d %.2f %s", sum[0], sum[1],
                  b[2].id, b[2].mass, b[2].tag);

    /* Pack, send as MPI_PACKED, unpack. */
    char packed[256], in[256];
    int pos = 0, psz;
    MPI_Pack_size(1, ptype, MPI_COMM_WORLD, &psz);
    MPI_Pack(&rank, 1, MPI_INT, packed, sizeof packed, &pos, MPI_COMM_WORLD);
    MPI_Pack(&ps[1], 1, ptype, packed, sizeof packed, &pos, MPI_COMM_WORLD);
    MPI_Sendrecv(packed, pos, MPI_PACKED, right, 6, in, sizeof in, MPI_PACKED, left, 6,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    int who = -1, upos = 0;
    struct particle one;
    memset(&one, 0, sizeof one);
    MPI_Unpack(in, sizeof in, &upos, &who, 1, MPI_INT, MPI_COMM_WORLD);
    MPI_Unpack(in, sizeof in, &upos, &one, 1, ptype, MPI_COMM_WORLD);
    n += snprintf(line + n, sizeof line - n, " pack %d %d %d %.2f %s at %d", psz, who, one.id, one.mass,
                  one.tag, upos);

    printf("%s\n", line);
    MPI_Type_free(&column);
    MPI_Type_free(&ptype);
    MPI_Type_free(&idx);
    MPI_Type_free(&sub);
    MPI_Type_free(&every_other);
    MPI_Type_free(&pair);
    MPI_Finalize();
    return 0;
}
