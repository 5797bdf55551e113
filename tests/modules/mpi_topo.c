/* mpi_topo: groups (Comm_group, incl, excl, translate_ranks, compare,
 * union, intersection, difference, Comm_create, Comm_compare) and
 * Cartesian topologies (Dims_create, Cart_create, coords, rank, shift,
 * get, sub, Topo_test, Cartdim_get). One line per rank, compared with
 * MPICH's output. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char line[2048];
    int n = snprintf(line, sizeof line, "rank %d:", rank);

    MPI_Group world, evens, odds, both, none, back;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    int ev[64], ne = 0;
    for (int k = 0; k < size; k += 2)
        ev[ne++] = k;
    MPI_Group_incl(world, ne, ev, &evens);
    MPI_Group_excl(world, ne, ev, &odds);
    MPI_Group_union(odds, evens, &both);
    MPI_Group_intersection(odds, evens, &none);
    MPI_Group_difference(both, odds, &back);
    int gs, gr, cmp1, cmp2, cmp3, sz_none;
    MPI_Group_size(evens, &gs);
    MPI_Group_rank(evens, &gr);
    MPI_Group_compare(world, both, &cmp1);
    MPI_Group_compare(back, evens, &cmp2);
    MPI_Group_compare(world, world, &cmp3);
    MPI_Group_size(none, &sz_none);
    int from[2] = {0, size - 1}, to[2];
    MPI_Group_translate_ranks(world, 2, from, odds, to);
    n += snprintf(line + n, sizeof line - n, " evens %d rank %d cmp %d %d %d none %d tr %d %d", gs,
                  gr == MPI_UNDEFINED ? -9 : gr, cmp1, cmp2, cmp3, sz_none,
                  to[0] == MPI_UNDEFINED ? -9 : to[0], to[1] == MPI_UNDEFINED ? -9 : to[1]);

    MPI_Comm ecomm;
    MPI_Comm_create(MPI_COMM_WORLD, evens, &ecomm);
    if (ecomm != MPI_COMM_NULL) {
        int er, esz, sum, one = rank, c;
        MPI_Comm_rank(ecomm, &er);
        MPI_Comm_size(ecomm, &esz);
        MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, ecomm);
        MPI_Comm_compare(ecomm, MPI_COMM_WORLD, &c);
        n += snprintf(line + n, sizeof line - n, " ecomm %d/%d sum %d cmp %d", er, esz, sum, c);
        MPI_Comm_free(&ecomm);
    } else {
        n += snprintf(line + n, sizeof line - n, " ecomm null");
    }
    MPI_Comm dup;
    int dc;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_compare(dup, MPI_COMM_WORLD, &dc);
    n += snprintf(line + n, sizeof line - n, " dupcmp %d", dc);

    int dims[2] = {0, 0}, periods[2] = {1, 0};
    MPI_Dims_create(size, 2, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
    int cr, coords[2], up, down, left, right, topo, nd, gd[2], gp[2], gc[2], back_rank;
    MPI_Comm_rank(cart, &cr);
    MPI_Cart_coords(cart, cr, 2, coords);
    MPI_Cart_shift(cart, 0, 1, &up, &down);
    MPI_Cart_shift(cart, 1, 1, &left, &right);
    MPI_Cart_rank(cart, coords, &back_rank);
    MPI_Topo_test(cart, &topo);
    MPI_Cartdim_get(cart, &nd);
    MPI_Cart_get(cart, 2, gd, gp, gc);
    int remain[2] = {0, 1}, rr, rs;
    MPI_Comm row;
    MPI_Cart_sub(cart, remain, &row);
    MPI_Comm_rank(row, &rr);
    MPI_Comm_size(row, &rs);
    int wtopo;
    MPI_Topo_test(MPI_COMM_WORLD, &wtopo);
    n += snprintf(line + n, sizeof line - n,
                  " grid %dx%d at (%d,%d) shift0 %d %d shift1 %d %d back %d topo %d/%s nd %d get %d %d %d %d row %d/%d",
                  dims[0], dims[1], coords[0], coords[1], up, down, left, right, back_rank,
                  topo == MPI_CART, wtopo == MPI_UNDEFINED ? "none" : "some", nd, gd[0], gd[1], gp[0],
                  gc[1], rr, rs);
    printf("%s\n", line);
    MPI_Comm_free(&row);
    MPI_Comm_free(&cart);
    MPI_Comm_free(&dup);
    MPI_Group_free(&world);
    MPI_Group_free(&evens);
    MPI_Group_free(&odds);
    MPI_Group_free(&both);
    MPI_Group_free(&none);
    MPI_Group_free(&back);
    MPI_Finalize();
    return 0;
}
