/*
 * User attributes on windows and datatypes, included by mpi.c after
 * rma.c. They live in the communicators' attribute table (mpi.c), with
 * the same per-rank keyvals: handles of communicators, windows and
 * datatypes never coincide. MPI_Type_dup copies a type's attributes as
 * their copy callbacks say, MPI_Type_free and MPI_Win_free run their
 * delete callbacks.
 */

int MPI_Win_create_keyval(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
                          int *keyval, void *extra)
{
    return create_keyval(copy, del, keyval, extra, "MPI_Win_create_keyval");
}

int MPI_Win_free_keyval(int *keyval)
{
    return free_keyval(keyval, "MPI_Win_free_keyval");
}

int MPI_Win_set_attr(MPI_Win win, int keyval, void *value)
{
    WIN("MPI_Win_set_attr", win, w);
    (void)w;
    return set_attr(win, keyval, value, "MPI_Win_set_attr");
}

int MPI_Win_delete_attr(MPI_Win win, int keyval)
{
    WIN("MPI_Win_delete_attr", win, w);
    (void)w;
    return delete_attr(win, keyval, "MPI_Win_delete_attr");
}

int MPI_Type_create_keyval(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
                           int *keyval, void *extra)
{
    return create_keyval(copy, del, keyval, extra, "MPI_Type_create_keyval");
}

int MPI_Type_free_keyval(int *keyval)
{
    return free_keyval(keyval, "MPI_Type_free_keyval");
}

#define TYPE_ARG(fn, t)                                                                       \
    if (!known_type(t))                                                        \
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, fn, "invalid datatype 0x%x",     \
                    (unsigned)(t));

int MPI_Type_set_attr(MPI_Datatype t, int keyval, void *value)
{
    TYPE_ARG("MPI_Type_set_attr", t);
    return set_attr(t, keyval, value, "MPI_Type_set_attr");
}

int MPI_Type_get_attr(MPI_Datatype t, int keyval, void *value, int *flag)
{
    started("MPI_Type_get_attr");
    TYPE_ARG("MPI_Type_get_attr", t);
    return user_attr(t, keyval, value, flag);
}

int MPI_Type_delete_attr(MPI_Datatype t, int keyval)
{
    TYPE_ARG("MPI_Type_delete_attr", t);
    return delete_attr(t, keyval, "MPI_Type_delete_attr");
}
