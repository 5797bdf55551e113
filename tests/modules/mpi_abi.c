/* mpi_abi: prints MPICH's values of the constants weaves' MPI header
 * defines, and the MPI_Status layout, as `NAME VALUE` lines (compiled with
 * MPICH's mpicc, so these are MPICH's own values). */
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>

#define SHOW(x) printf("%s %lld\n", #x, (long long)(x))

int main(void)
{
    SHOW(MPI_COMM_NULL);
    SHOW(MPI_COMM_WORLD);
    SHOW(MPI_COMM_SELF);
    SHOW(MPI_REQUEST_NULL);
    SHOW(MPI_DATATYPE_NULL);
    SHOW(MPI_OP_NULL);
    SHOW(MPI_CHAR);
    SHOW(MPI_SIGNED_CHAR);
    SHOW(MPI_UNSIGNED_CHAR);
    SHOW(MPI_BYTE);
    SHOW(MPI_WCHAR);
    SHOW(MPI_SHORT);
    SHOW(MPI_UNSIGNED_SHORT);
    SHOW(MPI_INT);
    SHOW(MPI_UNSIGNED);
    SHOW(MPI_LONG);
    SHOW(MPI_UNSIGNED_LONG);
    SHOW(MPI_LONG_LONG_INT);
    SHOW(MPI_LONG_LONG);
    SHOW(MPI_UNSIGNED_LONG_LONG);
    SHOW(MPI_FLOAT);
    SHOW(MPI_DOUBLE);
    SHOW(MPI_LONG_DOUBLE);
    SHOW(MPI_C_BOOL);
    SHOW(MPI_INT32_T);
    SHOW(MPI_INT64_T);
    SHOW(MPI_UINT64_T);
    SHOW(MPI_2INT);
    SHOW(MPI_PACKED);
    SHOW(MPI_ORDER_C);
    SHOW(MPI_ORDER_FORTRAN);
    SHOW(MPI_FLOAT_INT);
    SHOW(MPI_DOUBLE_INT);
    SHOW(MPI_LONG_INT);
    SHOW(MPI_SHORT_INT);
    SHOW(MPI_LONG_DOUBLE_INT);
    SHOW(MPI_2REAL);
    SHOW(MPI_2DOUBLE_PRECISION);
    SHOW(MPI_LXOR);
    SHOW(MPI_BXOR);
    SHOW(MPI_MINLOC);
    SHOW(MPI_MAXLOC);
    SHOW(MPI_TAG_UB);
    SHOW(MPI_HOST);
    SHOW(MPI_IO);
    SHOW(MPI_WTIME_IS_GLOBAL);
    SHOW(MPI_GROUP_NULL);
    SHOW(MPI_GROUP_EMPTY);
    SHOW(MPI_IDENT);
    SHOW(MPI_CONGRUENT);
    SHOW(MPI_SIMILAR);
    SHOW(MPI_UNEQUAL);
    SHOW(MPI_CART);
    SHOW(MPI_BSEND_OVERHEAD);
    SHOW(MPI_ERR_GROUP);
    SHOW(MPI_ERR_TOPOLOGY);
    SHOW(MPI_ERR_DIMS);
    SHOW(MPI_CHARACTER);
    SHOW(MPI_LOGICAL);
    SHOW(MPI_INTEGER);
    SHOW(MPI_REAL);
    SHOW(MPI_DOUBLE_PRECISION);
    SHOW(MPI_2INTEGER);
    SHOW(MPI_REAL4);
    SHOW(MPI_REAL8);
    SHOW(MPI_INTEGER4);
    SHOW(MPI_INTEGER8);
    SHOW(MPI_MAX);
    SHOW(MPI_MIN);
    SHOW(MPI_SUM);
    SHOW(MPI_PROD);
    SHOW(MPI_LAND);
    SHOW(MPI_BAND);
    SHOW(MPI_LOR);
    SHOW(MPI_BOR);
    SHOW(MPI_ERRORS_ARE_FATAL);
    SHOW(MPI_ERRORS_RETURN);
    SHOW(MPI_ANY_SOURCE);
    SHOW(MPI_ANY_TAG);
    SHOW(MPI_PROC_NULL);
    SHOW(MPI_ROOT);
    SHOW(MPI_UNDEFINED);
    SHOW(MPI_MAX_PROCESSOR_NAME);
    SHOW(MPI_MAX_ERROR_STRING);
    SHOW(MPI_THREAD_SINGLE);
    SHOW(MPI_THREAD_FUNNELED);
    SHOW(MPI_THREAD_SERIALIZED);
    SHOW(MPI_THREAD_MULTIPLE);
    SHOW(MPI_SUCCESS);
    SHOW(MPI_ERR_BUFFER);
    SHOW(MPI_ERR_COUNT);
    SHOW(MPI_ERR_TYPE);
    SHOW(MPI_ERR_TAG);
    SHOW(MPI_ERR_COMM);
    SHOW(MPI_ERR_RANK);
    SHOW(MPI_ERR_ROOT);
    SHOW(MPI_ERR_OP);
    SHOW(MPI_ERR_ARG);
    SHOW(MPI_ERR_TRUNCATE);
    SHOW(MPI_ERR_OTHER);
    SHOW(MPI_ERR_INTERN);
    SHOW(MPI_ERR_REQUEST);
    printf("MPI_IN_PLACE %lld\n", (long long)(ptrdiff_t)MPI_IN_PLACE);
    printf("MPI_BOTTOM %lld\n", (long long)(ptrdiff_t)MPI_BOTTOM);
    printf("MPI_STATUS_IGNORE %lld\n", (long long)(ptrdiff_t)MPI_STATUS_IGNORE);
    printf("MPI_STATUSES_IGNORE %lld\n", (long long)(ptrdiff_t)MPI_STATUSES_IGNORE);
    printf("sizeof(MPI_Status) %zu\n", sizeof(MPI_Status));
    printf("offsetof(MPI_SOURCE) %zu\n", offsetof(MPI_Status, MPI_SOURCE));
    printf("offsetof(MPI_TAG) %zu\n", offsetof(MPI_Status, MPI_TAG));
    printf("offsetof(MPI_ERROR) %zu\n", offsetof(MPI_Status, MPI_ERROR));
    printf("sizeof(MPI_Comm) %zu\n", sizeof(MPI_Comm));
    printf("sizeof(MPI_Request) %zu\n", sizeof(MPI_Request));
    return 0;
}
