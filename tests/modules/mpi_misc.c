/* mpi_misc: matched probes (Mprobe/Mrecv for a message of unknown size,
 * Improbe, Imrecv, MPI_PROC_NULL), Alloc_mem, communicator names, user
 * keyvals with copy and delete callbacks (Comm_dup, Comm_free), Info
 * objects. One line per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int deleted;

static int count_delete(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm;
    (void)keyval;
    (void)value;
    (void)extra;
    deleted++;
    return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    char line[1024];
    int n = snprintf(line, sizeof line, "rank %d:", rank);

    /* A message whose size the receiver learns from Mprobe. */
    int out[16];
    for (int k = 0; k < 16; k++)
        out[k] = rank * 100 + k;
    MPI_Request sr;
    MPI_Isend(out, 3 + rank % 4, MPI_INT, right, 5, MPI_COMM_WORLD, &sr);
    MPI_Message msg;
    MPI_Status st;
    MPI_Mprobe(left, 5, MPI_COMM_WORLD, &msg, &st);
    int count;
    MPI_Get_count(&st, MPI_INT, &count);
    int *in;
    MPI_Alloc_mem((MPI_Aint)(count * sizeof(int)), MPI_INFO_NULL, &in);
    MPI_Mrecv(in, count, MPI_INT, &msg, &st);
    MPI_Wait(&sr, MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " mprobe %d first %d last %d src %d null %d", count,
                  in[0], in[count - 1], st.MPI_SOURCE, msg == MPI_MESSAGE_NULL);
    MPI_Free_mem(in);

    /* Improbe until it comes; Imrecv; PROC_NULL. */
    int v = rank + 1000, got = -1, flag = 0;
    MPI_Request vr;
    MPI_Isend(&v, 1, MPI_INT, right, 6, MPI_COMM_WORLD, &vr);
    while (!flag)
        MPI_Improbe(left, 6, MPI_COMM_WORLD, &flag, &msg, &st);
    MPI_Request mr;
    MPI_Imrecv(&got, 1, MPI_INT, &msg, &mr);
    MPI_Wait(&mr, &st);
    MPI_Wait(&vr, MPI_STATUS_IGNORE);
    MPI_Message none;
    MPI_Mprobe(MPI_PROC_NULL, 0, MPI_COMM_WORLD, &none, &st);
    n += snprintf(line + n, sizeof line - n, " imrecv %d noproc %d src %d", got,
                  none == MPI_MESSAGE_NO_PROC, st.MPI_SOURCE == MPI_PROC_NULL);

    /* Names. */
    char name[MPI_MAX_OBJECT_NAME];
    int len;
    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_set_name(dup, "my duplicate");
    MPI_Comm_get_name(dup, name, &len);
    n += snprintf(line + n, sizeof line - n, " name '%s' %d", name, len);
    MPI_Comm_get_name(MPI_COMM_WORLD, name, &len);
    n += snprintf(line + n, sizeof line - n, " world '%s'", name);

    /* Keyvals: one copied on dup, one not; deletions counted. */
    int kcopy, knone, *val, vflag;
    static int payload[2];
    payload[0] = rank * 7;
    MPI_Comm_create_keyval(MPI_COMM_DUP_FN, count_delete, &kcopy, NULL);
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, count_delete, &knone, NULL);
    MPI_Comm_set_attr(dup, kcopy, &payload[0]);
    MPI_Comm_set_attr(dup, knone, &payload[1]);
    MPI_Comm dup2;
    MPI_Comm_dup(dup, &dup2);
    MPI_Comm_get_attr(dup2, kcopy, &val, &vflag);
    int copied = vflag ? *val : -1;
    MPI_Comm_get_attr(dup2, knone, &val, &vflag);
    int notcopied = vflag;
    MPI_Comm_free(&dup2);
    int after_free2 = deleted;
    MPI_Comm_delete_attr(dup, knone);
    MPI_Comm_free(&dup);
    MPI_Comm_free_keyval(&kcopy);
    MPI_Comm_free_keyval(&knone);
    n += snprintf(line + n, sizeof line - n, " attr %d %d deleted %d %d", copied, notcopied,
                  after_free2, deleted);

    /* Info. */
    MPI_Info info, info2;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alpha", "1");
    MPI_Info_set(info, "beta", "two");
    MPI_Info_set(info, "alpha", "one");
    MPI_Info_dup(info, &info2);
    MPI_Info_delete(info, "beta");
    int nkeys, nkeys2, iflag, vlen;
    char value[64], key[MPI_MAX_INFO_KEY + 1];
    MPI_Info_get_nkeys(info, &nkeys);
    MPI_Info_get_nkeys(info2, &nkeys2);
    MPI_Info_get(info2, "alpha", 63, value, &iflag);
    MPI_Info_get_valuelen(info2, "beta", &vlen, &iflag);
    MPI_Info_get_nthkey(info2, 1, key);
    n += snprintf(line + n, sizeof line - n, " info %d %d %s %d %s", nkeys, nkeys2, value, vlen,
                  key);
    MPI_Info_free(&info);
    MPI_Info_free(&info2);

    printf("%s\n", line);
    MPI_Finalize();
    return 0;
}
