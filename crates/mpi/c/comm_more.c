/*
 * Communicator variants, included by mpi.c: Comm_split_type (every rank
 * shares one node's memory: they are strings of one process),
 * Comm_dup_with_info, Comm_idup (a non-blocking collective: see nbc.c),
 * and the communicator's info hints.
 */

int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info,
                        MPI_Comm *newcomm)
{
    (void)info;
    if (split_type != MPI_COMM_TYPE_SHARED && split_type != MPI_UNDEFINED)
        return fail(comm, comm_of(comm), MPI_ERR_ARG, "MPI_Comm_split_type",
                    "not supported: split type %d (only MPI_COMM_TYPE_SHARED)", split_type);
    return MPI_Comm_split(comm, split_type == MPI_UNDEFINED ? MPI_UNDEFINED : 0, key, newcomm);
}

int MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm *newcomm)
{
    (void)info; /* hints: none changes what this library does */
    return MPI_Comm_dup(comm, newcomm);
}

int MPI_Comm_idup(MPI_Comm comm, MPI_Comm *newcomm, MPI_Request *request)
{
    struct nbc_args a = {.rbuf = newcomm};
    int err = nbc_begin("MPI_Comm_idup", NBC_DUP, &a, comm, request);
    if (err)
        return err;
    if (*newcomm == MPI_COMM_NULL)
        return fail(comm, comm_of(comm), MPI_ERR_INTERN, "MPI_Comm_idup",
                    "too many communicators");
    copy_attrs(comm, *newcomm);
    return MPI_SUCCESS;
}

/* No hint changes what this library does: a communicator's info is empty. */
int MPI_Comm_set_info(MPI_Comm comm, MPI_Info info)
{
    (void)info;
    started("MPI_Comm_set_info");
    COMM("MPI_Comm_set_info", comm, c);
    (void)c;
    return MPI_SUCCESS;
}

int MPI_Comm_get_info(MPI_Comm comm, MPI_Info *info)
{
    started("MPI_Comm_get_info");
    COMM("MPI_Comm_get_info", comm, c);
    (void)c;
    return MPI_Info_create(info);
}
