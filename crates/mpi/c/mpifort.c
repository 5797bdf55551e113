/*
 * Fortran bindings (MPICH's libmpichfort.so.12 ABI): `mpi_send_` and
 * friends, as gfortran calls them — every argument by reference, handles as
 * Fortran INTEGERs (MPICH's Fortran handles are its C handles), the error
 * code in a last `ierr` argument, LOGICALs as 4-byte integers.
 *
 * Fortran's special addresses (MPI_IN_PLACE, MPI_STATUS_IGNORE, …) are
 * variables of COMMON blocks that every program defines for itself
 * (`/MPIPRIV1/ MPI_BOTTOM, MPI_IN_PLACE, MPI_STATUS_IGNORE`). This module is
 * shared by all ranks, so it asks the runtime for the calling rank's own
 * block (`wv_lookup`) and compares addresses with it.
 */
#include "weaves_mpi.h"

#include <stdlib.h>
#include <string.h>

void *wv_lookup(const char *name);

int MPI_Init(int *, char ***);
int MPI_Init_thread(int *, char ***, int, int *);
int MPI_Finalize(void);
int MPI_Initialized(int *);
int MPI_Finalized(int *);
int MPI_Abort(MPI_Comm, int);
int MPI_Comm_size(MPI_Comm, int *);
int MPI_Comm_rank(MPI_Comm, int *);
int MPI_Comm_dup(MPI_Comm, MPI_Comm *);
int MPI_Comm_split(MPI_Comm, int, int, MPI_Comm *);
int MPI_Comm_free(MPI_Comm *);
int MPI_Send(const void *, int, MPI_Datatype, int, int, MPI_Comm);
int MPI_Recv(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Status *);
int MPI_Isend(const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Irecv(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Wait(MPI_Request *, MPI_Status *);
int MPI_Waitall(int, MPI_Request *, MPI_Status *);
int MPI_Test(MPI_Request *, int *, MPI_Status *);
int MPI_Sendrecv(const void *, int, MPI_Datatype, int, int, void *, int, MPI_Datatype, int, int,
                 MPI_Comm, MPI_Status *);
int MPI_Sendrecv_replace(void *, int, MPI_Datatype, int, int, int, int, MPI_Comm, MPI_Status *);
int MPI_Probe(int, int, MPI_Comm, MPI_Status *);
int MPI_Iprobe(int, int, MPI_Comm, int *, MPI_Status *);
int MPI_Get_count(const MPI_Status *, MPI_Datatype, int *);
int MPI_Barrier(MPI_Comm);
int MPI_Bcast(void *, int, MPI_Datatype, int, MPI_Comm);
int MPI_Reduce(const void *, void *, int, MPI_Datatype, MPI_Op, int, MPI_Comm);
int MPI_Allreduce(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
int MPI_Gather(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm);
int MPI_Gatherv(const void *, int, MPI_Datatype, void *, const int *, const int *, MPI_Datatype,
                int, MPI_Comm);
int MPI_Scatter(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm);
int MPI_Scatterv(const void *, const int *, const int *, MPI_Datatype, void *, int, MPI_Datatype,
                 int, MPI_Comm);
int MPI_Allgather(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
int MPI_Alltoall(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
int MPI_Waitany(int, MPI_Request *, int *, MPI_Status *);
int MPI_Waitsome(int, MPI_Request *, int *, int *, MPI_Status *);
int MPI_Testany(int, MPI_Request *, int *, int *, MPI_Status *);
int MPI_Testsome(int, MPI_Request *, int *, int *, MPI_Status *);
int MPI_Testall(int, MPI_Request *, int *, MPI_Status *);
int MPI_Request_free(MPI_Request *);
int MPI_Allgatherv(const void *, int, MPI_Datatype, void *, const int *, const int *,
                   MPI_Datatype, MPI_Comm);
int MPI_Alltoallv(const void *, const int *, const int *, MPI_Datatype, void *, const int *,
                  const int *, MPI_Datatype, MPI_Comm);
int MPI_Reduce_scatter(const void *, void *, const int *, MPI_Datatype, MPI_Op, MPI_Comm);
int MPI_Reduce_scatter_block(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
int MPI_Scan(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
int MPI_Exscan(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
int MPI_Dims_create(int, int, int *);
int MPI_Op_create(MPI_User_function *, int, MPI_Op *);
int MPI_Op_free(MPI_Op *);
int MPI_Error_class(int, int *);
int MPI_Comm_get_attr(MPI_Comm, int, void *, int *);
int MPI_Comm_group(MPI_Comm, MPI_Group *);
int MPI_Group_size(MPI_Group, int *);
int MPI_Group_rank(MPI_Group, int *);
int MPI_Group_incl(MPI_Group, int, const int *, MPI_Group *);
int MPI_Group_excl(MPI_Group, int, const int *, MPI_Group *);
int MPI_Group_translate_ranks(MPI_Group, int, const int *, MPI_Group, int *);
int MPI_Group_compare(MPI_Group, MPI_Group, int *);
int MPI_Group_union(MPI_Group, MPI_Group, MPI_Group *);
int MPI_Group_intersection(MPI_Group, MPI_Group, MPI_Group *);
int MPI_Group_difference(MPI_Group, MPI_Group, MPI_Group *);
int MPI_Group_free(MPI_Group *);
int MPI_Comm_create(MPI_Comm, MPI_Group, MPI_Comm *);
int MPI_Comm_compare(MPI_Comm, MPI_Comm, int *);
int MPI_Cart_create(MPI_Comm, int, const int *, const int *, int, MPI_Comm *);
int MPI_Cart_coords(MPI_Comm, int, int, int *);
int MPI_Cart_rank(MPI_Comm, const int *, int *);
int MPI_Cart_shift(MPI_Comm, int, int, int *, int *);
int MPI_Cart_sub(MPI_Comm, const int *, MPI_Comm *);
int MPI_Cart_get(MPI_Comm, int, int *, int *, int *);
int MPI_Cartdim_get(MPI_Comm, int *);
int MPI_Topo_test(MPI_Comm, int *);
int MPI_Send_init(const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Recv_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Start(MPI_Request *);
int MPI_Startall(int, MPI_Request *);
int MPI_Bsend(const void *, int, MPI_Datatype, int, int, MPI_Comm);
int MPI_Ibsend(const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Irsend(const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
int MPI_Buffer_attach(void *, int);
int MPI_Buffer_detach(void *, int *);
int MPI_Cancel(MPI_Request *);
int MPI_Test_cancelled(const MPI_Status *, int *);
int MPI_Type_contiguous(int, MPI_Datatype, MPI_Datatype *);
int MPI_Type_vector(int, int, int, MPI_Datatype, MPI_Datatype *);
int MPI_Type_create_hvector(int, int, MPI_Aint, MPI_Datatype, MPI_Datatype *);
int MPI_Type_indexed(int, const int *, const int *, MPI_Datatype, MPI_Datatype *);
int MPI_Type_create_indexed_block(int, int, const int *, MPI_Datatype, MPI_Datatype *);
int MPI_Type_create_struct(int, const int *, const MPI_Aint *, const MPI_Datatype *,
                           MPI_Datatype *);
int MPI_Type_create_subarray(int, const int *, const int *, const int *, int, MPI_Datatype,
                             MPI_Datatype *);
int MPI_Type_create_resized(MPI_Datatype, MPI_Aint, MPI_Aint, MPI_Datatype *);
int MPI_Type_dup(MPI_Datatype, MPI_Datatype *);
int MPI_Type_commit(MPI_Datatype *);
int MPI_Type_free(MPI_Datatype *);
int MPI_Type_get_extent(MPI_Datatype, MPI_Aint *, MPI_Aint *);
int MPI_Type_size(MPI_Datatype, int *);
int MPI_Get_address(const void *, MPI_Aint *);
int MPI_Pack(const void *, int, MPI_Datatype, void *, int, int *, MPI_Comm);
int MPI_Unpack(const void *, int, int *, void *, int, MPI_Datatype, MPI_Comm);
int MPI_Pack_size(int, MPI_Datatype, MPI_Comm, int *);
int MPI_Mprobe(int, int, MPI_Comm, MPI_Message *, MPI_Status *);
int MPI_Improbe(int, int, MPI_Comm, int *, MPI_Message *, MPI_Status *);
int MPI_Mrecv(void *, int, MPI_Datatype, MPI_Message *, MPI_Status *);
int MPI_Imrecv(void *, int, MPI_Datatype, MPI_Message *, MPI_Request *);
int MPI_Alloc_mem(MPI_Aint, MPI_Info, void *);
int MPI_Free_mem(void *);
int MPI_Comm_set_name(MPI_Comm, const char *);
int MPI_Comm_get_name(MPI_Comm, char *, int *);
int MPI_Ibarrier(MPI_Comm, MPI_Request *);
int MPI_Ibcast(void *, int, MPI_Datatype, int, MPI_Comm, MPI_Request *);
int MPI_Ireduce(const void *, void *, int, MPI_Datatype, MPI_Op, int, MPI_Comm, MPI_Request *);
int MPI_Iallreduce(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *);
double MPI_Wtime(void);
double MPI_Wtick(void);
int MPI_Comm_set_errhandler(MPI_Comm, MPI_Errhandler);

/* The calling rank's /MPIPRIV1/ and /MPIPRIV2/ blocks (NULL if its
 * program has none: then no argument can be one of them). Looked up once
 * per string: thread-locals of a bead are per string. */
static __thread int looked_up;
static __thread char *block1, *block2;

static void look_up(void)
{
    if (!looked_up) {
        block1 = wv_lookup("mpipriv1_");
        block2 = wv_lookup("mpipriv2_");
        looked_up = 1;
    }
}

static char *priv1(void)
{
    look_up();
    return block1;
}

static char *priv2(void)
{
    look_up();
    return block2;
}

/* A buffer argument: MPI_IN_PLACE and MPI_BOTTOM become C's. */
static void *buffer(void *p)
{
    char *b = priv1();
    if (b && (char *)p == b + 4)
        return MPI_IN_PLACE;
    if (b && (char *)p == b)
        return MPI_BOTTOM;
    return p;
}

static MPI_Status *status(int *s)
{
    char *b = priv1();
    if (b && (char *)s == b + 8)
        return MPI_STATUS_IGNORE;
    return (MPI_Status *)s;
}

static MPI_Status *statuses(int *s)
{
    char *b = priv2();
    if (b && (char *)s == b)
        return MPI_STATUSES_IGNORE;
    return (MPI_Status *)s;
}

void mpi_init_(int *ierr)
{
    *ierr = MPI_Init(NULL, NULL);
}

void mpi_init_thread_(int *required, int *provided, int *ierr)
{
    *ierr = MPI_Init_thread(NULL, NULL, *required, provided);
}

void mpi_finalize_(int *ierr)
{
    *ierr = MPI_Finalize();
}

void mpi_initialized_(int *flag, int *ierr)
{
    *ierr = MPI_Initialized(flag);
}

void mpi_finalized_(int *flag, int *ierr)
{
    *ierr = MPI_Finalized(flag);
}

void mpi_abort_(int *comm, int *code, int *ierr)
{
    *ierr = MPI_Abort(*comm, *code);
}

void mpi_comm_size_(int *comm, int *size, int *ierr)
{
    *ierr = MPI_Comm_size(*comm, size);
}

void mpi_comm_rank_(int *comm, int *rank, int *ierr)
{
    *ierr = MPI_Comm_rank(*comm, rank);
}

void mpi_comm_dup_(int *comm, int *newcomm, int *ierr)
{
    *ierr = MPI_Comm_dup(*comm, newcomm);
}

void mpi_comm_split_(int *comm, int *color, int *key, int *newcomm, int *ierr)
{
    *ierr = MPI_Comm_split(*comm, *color, *key, newcomm);
}

void mpi_comm_free_(int *comm, int *ierr)
{
    *ierr = MPI_Comm_free(comm);
}

void mpi_comm_set_errhandler_(int *comm, int *errh, int *ierr)
{
    *ierr = MPI_Comm_set_errhandler(*comm, *errh);
}

void mpi_send_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *ierr)
{
    *ierr = MPI_Send(buffer(buf), *count, *type, *dest, *tag, *comm);
}

void mpi_recv_(void *buf, int *count, int *type, int *source, int *tag, int *comm, int *st,
               int *ierr)
{
    *ierr = MPI_Recv(buffer(buf), *count, *type, *source, *tag, *comm, status(st));
}

void mpi_isend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *request,
                int *ierr)
{
    *ierr = MPI_Isend(buffer(buf), *count, *type, *dest, *tag, *comm, request);
}

void mpi_irecv_(void *buf, int *count, int *type, int *source, int *tag, int *comm, int *request,
                int *ierr)
{
    *ierr = MPI_Irecv(buffer(buf), *count, *type, *source, *tag, *comm, request);
}

void mpi_wait_(int *request, int *st, int *ierr)
{
    *ierr = MPI_Wait(request, status(st));
}

void mpi_waitall_(int *count, int *requests, int *st, int *ierr)
{
    *ierr = MPI_Waitall(*count, requests, statuses(st));
}

void mpi_test_(int *request, int *flag, int *st, int *ierr)
{
    *ierr = MPI_Test(request, flag, status(st));
}

void mpi_sendrecv_(void *sendbuf, int *sendcount, int *sendtype, int *dest, int *sendtag,
                   void *recvbuf, int *recvcount, int *recvtype, int *source, int *recvtag,
                   int *comm, int *st, int *ierr)
{
    *ierr = MPI_Sendrecv(buffer(sendbuf), *sendcount, *sendtype, *dest, *sendtag, buffer(recvbuf),
                         *recvcount, *recvtype, *source, *recvtag, *comm, status(st));
}

void mpi_sendrecv_replace_(void *buf, int *count, int *type, int *dest, int *sendtag,
                           int *source, int *recvtag, int *comm, int *st, int *ierr)
{
    *ierr = MPI_Sendrecv_replace(buffer(buf), *count, *type, *dest, *sendtag, *source, *recvtag,
                                 *comm, status(st));
}

void mpi_probe_(int *source, int *tag, int *comm, int *st, int *ierr)
{
    *ierr = MPI_Probe(*source, *tag, *comm, status(st));
}

void mpi_iprobe_(int *source, int *tag, int *comm, int *flag, int *st, int *ierr)
{
    *ierr = MPI_Iprobe(*source, *tag, *comm, flag, status(st));
}

void mpi_get_count_(int *st, int *type, int *count, int *ierr)
{
    *ierr = MPI_Get_count((MPI_Status *)st, *type, count);
}

void mpi_barrier_(int *comm, int *ierr)
{
    *ierr = MPI_Barrier(*comm);
}

void mpi_bcast_(void *buf, int *count, int *type, int *root, int *comm, int *ierr)
{
    *ierr = MPI_Bcast(buffer(buf), *count, *type, *root, *comm);
}

void mpi_reduce_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *root,
                 int *comm, int *ierr)
{
    *ierr = MPI_Reduce(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *root, *comm);
}

void mpi_allreduce_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
                    int *ierr)
{
    *ierr = MPI_Allreduce(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm);
}

void mpi_gather_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                 int *recvtype, int *root, int *comm, int *ierr)
{
    *ierr = MPI_Gather(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                       *recvtype, *root, *comm);
}

void mpi_gatherv_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcounts,
                  int *displs, int *recvtype, int *root, int *comm, int *ierr)
{
    *ierr = MPI_Gatherv(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), recvcounts,
                        displs, *recvtype, *root, *comm);
}

void mpi_scatter_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                  int *recvtype, int *root, int *comm, int *ierr)
{
    *ierr = MPI_Scatter(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                        *recvtype, *root, *comm);
}

void mpi_scatterv_(void *sendbuf, int *sendcounts, int *displs, int *sendtype, void *recvbuf,
                   int *recvcount, int *recvtype, int *root, int *comm, int *ierr)
{
    *ierr = MPI_Scatterv(buffer(sendbuf), sendcounts, displs, *sendtype, buffer(recvbuf),
                         *recvcount, *recvtype, *root, *comm);
}

void mpi_allgather_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                    int *recvtype, int *comm, int *ierr)
{
    *ierr = MPI_Allgather(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                          *recvtype, *comm);
}

void mpi_alltoall_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                   int *recvtype, int *comm, int *ierr)
{
    *ierr = MPI_Alltoall(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                         *recvtype, *comm);
}

int MPI_Ssend(const void *, int, MPI_Datatype, int, int, MPI_Comm);
int MPI_Type_size(MPI_Datatype, int *);

void mpi_ssend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *ierr)
{
    *ierr = MPI_Ssend(buffer(buf), *count, *type, *dest, *tag, *comm);
}

void mpi_rsend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *ierr)
{
    *ierr = MPI_Ssend(buffer(buf), *count, *type, *dest, *tag, *comm);
}

void mpi_type_size_(int *type, int *size, int *ierr)
{
    *ierr = MPI_Type_size(*type, size);
}

double mpi_wtime_(void)
{
    return MPI_Wtime();
}

double mpi_wtick_(void)
{
    return MPI_Wtick();
}

/* ---- completion of several requests (Fortran indices count from 1) ---- */

void mpi_waitany_(int *count, int *requests, int *index, int *st, int *ierr)
{
    *ierr = MPI_Waitany(*count, requests, index, status(st));
    if (*index != MPI_UNDEFINED)
        (*index)++;
}

void mpi_testany_(int *count, int *requests, int *index, int *flag, int *st, int *ierr)
{
    *ierr = MPI_Testany(*count, requests, index, flag, status(st));
    if (*index != MPI_UNDEFINED)
        (*index)++;
}

void mpi_waitsome_(int *count, int *requests, int *outcount, int *indices, int *st, int *ierr)
{
    *ierr = MPI_Waitsome(*count, requests, outcount, indices, statuses(st));
    for (int i = 0; *outcount != MPI_UNDEFINED && i < *outcount; i++)
        indices[i]++;
}

void mpi_testsome_(int *count, int *requests, int *outcount, int *indices, int *st, int *ierr)
{
    *ierr = MPI_Testsome(*count, requests, outcount, indices, statuses(st));
    for (int i = 0; *outcount != MPI_UNDEFINED && i < *outcount; i++)
        indices[i]++;
}

void mpi_testall_(int *count, int *requests, int *flag, int *st, int *ierr)
{
    *ierr = MPI_Testall(*count, requests, flag, statuses(st));
}

void mpi_request_free_(int *request, int *ierr)
{
    *ierr = MPI_Request_free(request);
}

/* ---- more collectives ------------------------------------------------- */

void mpi_allgatherv_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf,
                     int *recvcounts, int *displs, int *recvtype, int *comm, int *ierr)
{
    *ierr = MPI_Allgatherv(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), recvcounts,
                           displs, *recvtype, *comm);
}

void mpi_alltoallv_(void *sendbuf, int *sendcounts, int *sdispls, int *sendtype, void *recvbuf,
                    int *recvcounts, int *rdispls, int *recvtype, int *comm, int *ierr)
{
    *ierr = MPI_Alltoallv(buffer(sendbuf), sendcounts, sdispls, *sendtype, buffer(recvbuf),
                          recvcounts, rdispls, *recvtype, *comm);
}

void mpi_reduce_scatter_(void *sendbuf, void *recvbuf, int *recvcounts, int *type, int *op,
                         int *comm, int *ierr)
{
    *ierr = MPI_Reduce_scatter(buffer(sendbuf), buffer(recvbuf), recvcounts, *type, *op, *comm);
}

void mpi_reduce_scatter_block_(void *sendbuf, void *recvbuf, int *recvcount, int *type, int *op,
                               int *comm, int *ierr)
{
    *ierr = MPI_Reduce_scatter_block(buffer(sendbuf), buffer(recvbuf), *recvcount, *type, *op,
                                     *comm);
}

void mpi_scan_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
               int *ierr)
{
    *ierr = MPI_Scan(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm);
}

void mpi_exscan_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
                 int *ierr)
{
    *ierr = MPI_Exscan(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm);
}

void mpi_dims_create_(int *nnodes, int *ndims, int *dims, int *ierr)
{
    *ierr = MPI_Dims_create(*nnodes, *ndims, dims);
}

/* ---- user operations, error classes, attributes ------------------------ */

/* A Fortran user function takes every argument by reference, as the C one
 * does: the same pointer serves. */
void mpi_op_create_(MPI_User_function *fn, int *commute, int *op, int *ierr)
{
    *ierr = MPI_Op_create(fn, *commute, op);
}

void mpi_op_free_(int *op, int *ierr)
{
    *ierr = MPI_Op_free(op);
}

void mpi_error_class_(int *code, int *errorclass, int *ierr)
{
    *ierr = MPI_Error_class(*code, errorclass);
}

/* MPICH's Fortran keyvals of the predefined attributes are the C ones
 * plus one (MPI_TAG_UB is 0x64400001 in C, 0x64400002 in Fortran). */
static int c_keyval(int keyval)
{
    return ((unsigned)keyval >> 20) == 0x644 && !(keyval & 1) ? keyval - 1 : keyval;
}

/* Fortran gets the attribute's value itself (an address-sized integer). */
void mpi_comm_get_attr_(int *comm, int *keyval, long *value, int *flag, int *ierr)
{
    int *v = NULL;
    *ierr = MPI_Comm_get_attr(*comm, c_keyval(*keyval), &v, flag);
    if (*flag && v)
        *value = *v;
}

/* MPI-1's MPI_ATTR_GET: a default-kind INTEGER value. */
void mpi_attr_get_(int *comm, int *keyval, int *value, int *flag, int *ierr)
{
    int *v = NULL;
    *ierr = MPI_Comm_get_attr(*comm, c_keyval(*keyval), &v, flag);
    if (*flag && v)
        *value = *v;
}

/* ---- groups and Cartesian topologies (LOGICALs are 4-byte integers) ---- */

void mpi_comm_group_(int *comm, int *group, int *ierr) { *ierr = MPI_Comm_group(*comm, group); }
void mpi_group_size_(int *group, int *size, int *ierr) { *ierr = MPI_Group_size(*group, size); }
void mpi_group_rank_(int *group, int *rank, int *ierr) { *ierr = MPI_Group_rank(*group, rank); }
void mpi_group_free_(int *group, int *ierr) { *ierr = MPI_Group_free(group); }

void mpi_group_incl_(int *group, int *n, int *ranks, int *newgroup, int *ierr)
{
    *ierr = MPI_Group_incl(*group, *n, ranks, newgroup);
}

void mpi_group_excl_(int *group, int *n, int *ranks, int *newgroup, int *ierr)
{
    *ierr = MPI_Group_excl(*group, *n, ranks, newgroup);
}

void mpi_group_translate_ranks_(int *g1, int *n, int *ranks1, int *g2, int *ranks2, int *ierr)
{
    *ierr = MPI_Group_translate_ranks(*g1, *n, ranks1, *g2, ranks2);
}

void mpi_group_compare_(int *g1, int *g2, int *result, int *ierr)
{
    *ierr = MPI_Group_compare(*g1, *g2, result);
}

void mpi_group_union_(int *g1, int *g2, int *out, int *ierr) { *ierr = MPI_Group_union(*g1, *g2, out); }

void mpi_group_intersection_(int *g1, int *g2, int *out, int *ierr)
{
    *ierr = MPI_Group_intersection(*g1, *g2, out);
}

void mpi_group_difference_(int *g1, int *g2, int *out, int *ierr)
{
    *ierr = MPI_Group_difference(*g1, *g2, out);
}

void mpi_comm_create_(int *comm, int *group, int *newcomm, int *ierr)
{
    *ierr = MPI_Comm_create(*comm, *group, newcomm);
}

void mpi_comm_compare_(int *c1, int *c2, int *result, int *ierr)
{
    *ierr = MPI_Comm_compare(*c1, *c2, result);
}

void mpi_cart_create_(int *comm, int *ndims, int *dims, int *periods, int *reorder, int *cart,
                      int *ierr)
{
    *ierr = MPI_Cart_create(*comm, *ndims, dims, periods, *reorder, cart);
}

void mpi_cart_coords_(int *comm, int *rank, int *maxdims, int *coords, int *ierr)
{
    *ierr = MPI_Cart_coords(*comm, *rank, *maxdims, coords);
}

void mpi_cart_rank_(int *comm, int *coords, int *rank, int *ierr)
{
    *ierr = MPI_Cart_rank(*comm, coords, rank);
}

void mpi_cart_shift_(int *comm, int *direction, int *disp, int *source, int *dest, int *ierr)
{
    *ierr = MPI_Cart_shift(*comm, *direction, *disp, source, dest);
}

void mpi_cart_sub_(int *comm, int *remain, int *newcomm, int *ierr)
{
    *ierr = MPI_Cart_sub(*comm, remain, newcomm);
}

void mpi_cart_get_(int *comm, int *maxdims, int *dims, int *periods, int *coords, int *ierr)
{
    *ierr = MPI_Cart_get(*comm, *maxdims, dims, periods, coords);
}

void mpi_cartdim_get_(int *comm, int *ndims, int *ierr) { *ierr = MPI_Cartdim_get(*comm, ndims); }
void mpi_topo_test_(int *comm, int *status, int *ierr) { *ierr = MPI_Topo_test(*comm, status); }

/* ---- persistent requests, buffered sends, cancellation ----------------- */

void mpi_send_init_(void *buf, int *count, int *type, int *dest, int *tag, int *comm,
                    int *request, int *ierr)
{
    *ierr = MPI_Send_init(buffer(buf), *count, *type, *dest, *tag, *comm, request);
}

void mpi_recv_init_(void *buf, int *count, int *type, int *source, int *tag, int *comm,
                    int *request, int *ierr)
{
    *ierr = MPI_Recv_init(buffer(buf), *count, *type, *source, *tag, *comm, request);
}

void mpi_start_(int *request, int *ierr) { *ierr = MPI_Start(request); }
void mpi_startall_(int *count, int *requests, int *ierr) { *ierr = MPI_Startall(*count, requests); }

void mpi_bsend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *ierr)
{
    *ierr = MPI_Bsend(buffer(buf), *count, *type, *dest, *tag, *comm);
}

void mpi_ibsend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *request,
                 int *ierr)
{
    *ierr = MPI_Ibsend(buffer(buf), *count, *type, *dest, *tag, *comm, request);
}

void mpi_irsend_(void *buf, int *count, int *type, int *dest, int *tag, int *comm, int *request,
                 int *ierr)
{
    *ierr = MPI_Irsend(buffer(buf), *count, *type, *dest, *tag, *comm, request);
}

void mpi_buffer_attach_(void *buf, int *size, int *ierr) { *ierr = MPI_Buffer_attach(buf, *size); }

void mpi_buffer_detach_(void *buf, int *size, int *ierr)
{
    void *at = NULL;
    (void)buf;
    *ierr = MPI_Buffer_detach(&at, size);
}

void mpi_cancel_(int *request, int *ierr) { *ierr = MPI_Cancel(request); }

void mpi_test_cancelled_(int *st, int *flag, int *ierr)
{
    *ierr = MPI_Test_cancelled((const MPI_Status *)st, flag);
}

/* ---- derived datatypes (addresses are INTEGER(KIND=MPI_ADDRESS_KIND)) -- */

void mpi_type_contiguous_(int *count, int *old, int *newtype, int *ierr)
{
    *ierr = MPI_Type_contiguous(*count, *old, newtype);
}

void mpi_type_vector_(int *count, int *blocklen, int *stride, int *old, int *newtype, int *ierr)
{
    *ierr = MPI_Type_vector(*count, *blocklen, *stride, *old, newtype);
}

void mpi_type_create_hvector_(int *count, int *blocklen, long *stride, int *old, int *newtype,
                              int *ierr)
{
    *ierr = MPI_Type_create_hvector(*count, *blocklen, *stride, *old, newtype);
}

void mpi_type_indexed_(int *count, int *lens, int *displs, int *old, int *newtype, int *ierr)
{
    *ierr = MPI_Type_indexed(*count, lens, displs, *old, newtype);
}

void mpi_type_create_indexed_block_(int *count, int *len, int *displs, int *old, int *newtype,
                                    int *ierr)
{
    *ierr = MPI_Type_create_indexed_block(*count, *len, displs, *old, newtype);
}

void mpi_type_create_struct_(int *count, int *lens, long *displs, int *types, int *newtype,
                             int *ierr)
{
    *ierr = MPI_Type_create_struct(*count, lens, displs, types, newtype);
}

void mpi_type_create_subarray_(int *ndims, int *sizes, int *subsizes, int *starts, int *order,
                               int *old, int *newtype, int *ierr)
{
    *ierr = MPI_Type_create_subarray(*ndims, sizes, subsizes, starts, *order, *old, newtype);
}

void mpi_type_create_resized_(int *old, long *lb, long *extent, int *newtype, int *ierr)
{
    *ierr = MPI_Type_create_resized(*old, *lb, *extent, newtype);
}

void mpi_type_dup_(int *old, int *newtype, int *ierr) { *ierr = MPI_Type_dup(*old, newtype); }
void mpi_type_commit_(int *type, int *ierr) { *ierr = MPI_Type_commit(type); }
void mpi_type_free_(int *type, int *ierr) { *ierr = MPI_Type_free(type); }

void mpi_type_get_extent_(int *type, long *lb, long *extent, int *ierr)
{
    *ierr = MPI_Type_get_extent(*type, lb, extent);
}

void mpi_get_address_(void *location, long *address, int *ierr)
{
    *ierr = MPI_Get_address(location, address);
}

void mpi_pack_(void *inbuf, int *incount, int *type, void *outbuf, int *outsize, int *position,
               int *comm, int *ierr)
{
    *ierr = MPI_Pack(inbuf, *incount, *type, outbuf, *outsize, position, *comm);
}

void mpi_unpack_(void *inbuf, int *insize, int *position, void *outbuf, int *outcount, int *type,
                 int *comm, int *ierr)
{
    *ierr = MPI_Unpack(inbuf, *insize, position, outbuf, *outcount, *type, *comm);
}

void mpi_pack_size_(int *incount, int *type, int *comm, int *size, int *ierr)
{
    *ierr = MPI_Pack_size(*incount, *type, *comm, size);
}

/* ---- matched probes, memory, names ------------------------------------- */

void mpi_mprobe_(int *source, int *tag, int *comm, int *message, int *st, int *ierr)
{
    *ierr = MPI_Mprobe(*source, *tag, *comm, message, status(st));
}

void mpi_improbe_(int *source, int *tag, int *comm, int *flag, int *message, int *st, int *ierr)
{
    *ierr = MPI_Improbe(*source, *tag, *comm, flag, message, status(st));
}

void mpi_mrecv_(void *buf, int *count, int *type, int *message, int *st, int *ierr)
{
    *ierr = MPI_Mrecv(buffer(buf), *count, *type, message, status(st));
}

void mpi_imrecv_(void *buf, int *count, int *type, int *message, int *request, int *ierr)
{
    *ierr = MPI_Imrecv(buffer(buf), *count, *type, message, request);
}

/* Fortran receives the memory's address as an INTEGER(KIND=MPI_ADDRESS_KIND)
 * (used through Cray pointers or c_f_pointer). */
void mpi_alloc_mem_(long *size, int *info, long *baseptr, int *ierr)
{
    void *p = NULL;
    *ierr = MPI_Alloc_mem(*size, *info, &p);
    *baseptr = (long)p;
}

void mpi_free_mem_(void *base, int *ierr) { *ierr = MPI_Free_mem(base); }

/* Fortran strings come with their length (a hidden last argument) and no
 * NUL; names go back blank-padded. */
void mpi_comm_set_name_(int *comm, const char *name, int *ierr, size_t len)
{
    char c_name[MPI_MAX_OBJECT_NAME];
    while (len > 0 && name[len - 1] == ' ')
        len--;
    if (len >= sizeof c_name)
        len = sizeof c_name - 1;
    memcpy(c_name, name, len);
    c_name[len] = 0;
    *ierr = MPI_Comm_set_name(*comm, c_name);
}

void mpi_comm_get_name_(int *comm, char *name, int *resultlen, int *ierr, size_t len)
{
    char c_name[MPI_MAX_OBJECT_NAME];
    *ierr = MPI_Comm_get_name(*comm, c_name, resultlen);
    size_t n = strlen(c_name);
    for (size_t k = 0; k < len; k++)
        name[k] = k < n ? c_name[k] : ' ';
}

/* ---- non-blocking collectives ----------------------------------------- */

void mpi_ibarrier_(int *comm, int *request, int *ierr) { *ierr = MPI_Ibarrier(*comm, request); }

void mpi_ibcast_(void *buf, int *count, int *type, int *root, int *comm, int *request, int *ierr)
{
    *ierr = MPI_Ibcast(buffer(buf), *count, *type, *root, *comm, request);
}

void mpi_ireduce_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *root,
                  int *comm, int *request, int *ierr)
{
    *ierr = MPI_Ireduce(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *root, *comm,
                        request);
}

void mpi_iallreduce_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
                     int *request, int *ierr)
{
    *ierr = MPI_Iallreduce(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm, request);
}

/* ---- newer collectives, communicators, one-sided communication --------- */

int MPI_Igather(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm,
                MPI_Request *);
int MPI_Iscatter(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm,
                 MPI_Request *);
int MPI_Iallgather(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm,
                   MPI_Request *);
int MPI_Ialltoall(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm,
                  MPI_Request *);
int MPI_Iscan(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *);
int MPI_Iexscan(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *);
int MPI_Comm_split_type(MPI_Comm, int, int, MPI_Info, MPI_Comm *);
int MPI_Comm_idup(MPI_Comm, MPI_Comm *, MPI_Request *);
int MPI_Comm_dup_with_info(MPI_Comm, MPI_Info, MPI_Comm *);
int MPI_Win_create(void *, MPI_Aint, int, MPI_Info, MPI_Comm, MPI_Win *);
int MPI_Win_allocate(MPI_Aint, int, MPI_Info, MPI_Comm, void *, MPI_Win *);
int MPI_Win_free(MPI_Win *);
int MPI_Win_fence(int, MPI_Win);
int MPI_Put(const void *, int, MPI_Datatype, int, MPI_Aint, int, MPI_Datatype, MPI_Win);
int MPI_Get(void *, int, MPI_Datatype, int, MPI_Aint, int, MPI_Datatype, MPI_Win);
int MPI_Accumulate(const void *, int, MPI_Datatype, int, MPI_Aint, int, MPI_Datatype, MPI_Op,
                   MPI_Win);
int MPI_Win_lock(int, int, int, MPI_Win);
int MPI_Win_unlock(int, MPI_Win);

void mpi_igather_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                  int *recvtype, int *root, int *comm, int *request, int *ierr)
{
    *ierr = MPI_Igather(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                        *recvtype, *root, *comm, request);
}

void mpi_iscatter_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                   int *recvtype, int *root, int *comm, int *request, int *ierr)
{
    *ierr = MPI_Iscatter(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                         *recvtype, *root, *comm, request);
}

void mpi_iallgather_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf,
                     int *recvcount, int *recvtype, int *comm, int *request, int *ierr)
{
    *ierr = MPI_Iallgather(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                           *recvtype, *comm, request);
}

void mpi_ialltoall_(void *sendbuf, int *sendcount, int *sendtype, void *recvbuf, int *recvcount,
                    int *recvtype, int *comm, int *request, int *ierr)
{
    *ierr = MPI_Ialltoall(buffer(sendbuf), *sendcount, *sendtype, buffer(recvbuf), *recvcount,
                          *recvtype, *comm, request);
}

void mpi_iscan_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
                int *request, int *ierr)
{
    *ierr = MPI_Iscan(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm, request);
}

void mpi_iexscan_(void *sendbuf, void *recvbuf, int *count, int *type, int *op, int *comm,
                  int *request, int *ierr)
{
    *ierr = MPI_Iexscan(buffer(sendbuf), buffer(recvbuf), *count, *type, *op, *comm, request);
}

void mpi_comm_split_type_(int *comm, int *split_type, int *key, int *info, int *newcomm,
                          int *ierr)
{
    *ierr = MPI_Comm_split_type(*comm, *split_type, *key, *info, newcomm);
}

void mpi_comm_idup_(int *comm, int *newcomm, int *request, int *ierr)
{
    *ierr = MPI_Comm_idup(*comm, newcomm, request);
}

void mpi_comm_dup_with_info_(int *comm, int *info, int *newcomm, int *ierr)
{
    *ierr = MPI_Comm_dup_with_info(*comm, *info, newcomm);
}

/* Window sizes and target displacements are INTEGER(KIND=MPI_ADDRESS_KIND). */
void mpi_win_create_(void *base, MPI_Aint *size, int *disp_unit, int *info, int *comm, int *win,
                     int *ierr)
{
    *ierr = MPI_Win_create(base, *size, *disp_unit, *info, *comm, win);
}

void mpi_win_free_(int *win, int *ierr)
{
    *ierr = MPI_Win_free(win);
}

void mpi_win_fence_(int *assert_, int *win, int *ierr)
{
    *ierr = MPI_Win_fence(*assert_, *win);
}

void mpi_put_(void *origin, int *ocount, int *otype, int *target, MPI_Aint *tdisp, int *tcount,
              int *ttype, int *win, int *ierr)
{
    *ierr = MPI_Put(origin, *ocount, *otype, *target, *tdisp, *tcount, *ttype, *win);
}

void mpi_get_(void *origin, int *ocount, int *otype, int *target, MPI_Aint *tdisp, int *tcount,
              int *ttype, int *win, int *ierr)
{
    *ierr = MPI_Get(origin, *ocount, *otype, *target, *tdisp, *tcount, *ttype, *win);
}

void mpi_accumulate_(void *origin, int *ocount, int *otype, int *target, MPI_Aint *tdisp,
                     int *tcount, int *ttype, int *op, int *win, int *ierr)
{
    *ierr = MPI_Accumulate(origin, *ocount, *otype, *target, *tdisp, *tcount, *ttype, *op, *win);
}

void mpi_win_lock_(int *lock_type, int *target, int *assert_, int *win, int *ierr)
{
    *ierr = MPI_Win_lock(*lock_type, *target, *assert_, *win);
}

void mpi_win_unlock_(int *target, int *win, int *ierr)
{
    *ierr = MPI_Win_unlock(*target, *win);
}

#include "mpifort_more.c"
