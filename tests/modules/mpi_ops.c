/* mpi_ops: MINLOC/MAXLOC over pair types, LXOR/BXOR, a user operation
 * (non-commutative: 2x2 matrix products in rank order), Error_class, the
 * TAG_UB attribute and Iprobe from MPI_PROC_NULL. One line per rank,
 * compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>

typedef struct {
    double v;
    int i;
} double_int;

typedef struct {
    long a, b, c, d;
} mat;

static void matmul(void *in, void *inout, int *len, MPI_Datatype *t)
{
    (void)t;
    mat *x = in, *y = inout; /* four MPI_LONGs make a matrix */
    for (int k = 0; k < *len / 4; k++) {
        mat r = {x[k].a * y[k].a + x[k].b * y[k].c, x[k].a * y[k].b + x[k].b * y[k].d,
                 x[k].c * y[k].a + x[k].d * y[k].c, x[k].c * y[k].b + x[k].d * y[k].d};
        y[k] = r;
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    double_int mine = {(double)((rank * 7) % 5), rank}, hi, lo;
    MPI_Allreduce(&mine, &hi, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &lo, 1, MPI_DOUBLE_INT, MPI_MINLOC, MPI_COMM_WORLD);
    int pair[2] = {rank % 3, rank}, pmax[2];
    MPI_Allreduce(pair, pmax, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);

    int bits = 1 << (rank % 8), bx, lx, odd = rank % 2;
    MPI_Allreduce(&bits, &bx, 1, MPI_INT, MPI_BXOR, MPI_COMM_WORLD);
    MPI_Allreduce(&odd, &lx, 1, MPI_INT, MPI_LXOR, MPI_COMM_WORLD);

    MPI_Op mul;
    MPI_Op_create(matmul, 0, &mul);
    mat m = {rank + 1, 1, 1, 0}, prod = {0, 0, 0, 0}; /* non-commuting factors */
    MPI_Reduce(&m, &prod, 4, MPI_LONG, mul, 0, MPI_COMM_WORLD);
    MPI_Op_free(&mul);

    int cls;
    MPI_Error_class(MPI_ERR_RANK, &cls);
    int *tag_ub, flag;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
    int pflag;
    MPI_Status st;
    MPI_Iprobe(MPI_PROC_NULL, 0, MPI_COMM_WORLD, &pflag, &st);

    printf("rank %d: maxloc %.0f@%d minloc %.0f@%d 2int %d@%d bxor %d lxor %d class %d tag_ub %s probe %d %d prod %ld %ld %ld %ld\n",
           rank, hi.v, hi.i, lo.v, lo.i, pmax[0], pmax[1], bx, lx, cls == MPI_ERR_RANK,
           flag && *tag_ub >= 32767 ? "ok" : "bad", pflag, st.MPI_SOURCE == MPI_PROC_NULL, prod.a, prod.b, prod.c, prod.d);
    MPI_Finalize();
    return 0;
}
