/* mpi_graph: graph topologies (Graph_create on a ring with each edge
 * twice, so blocks to the same neighbour match in order; Graphdims_get,
 * Graph_get, Graph_neighbors(_count), Topo_test), distributed graphs
 * (Dist_graph_create_adjacent, weighted; Dist_graph_neighbors(_count)),
 * and the neighbourhood collectives on them and on a non-periodic
 * Cartesian grid (missing neighbours leave their blocks alone):
 * Neighbor_allgather(v), Neighbor_alltoall(v/w), Ineighbor_*. One line
 * per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>

static long sum_of(const int *v, int n)
{
    long s = 0;
    for (int i = 0; i < n; i++)
        s = s * 31 + v[i];
    return s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    /* A ring, each edge listed twice: right, left, right, left. */
    int index[64], edges[256];
    for (int k = 0; k < size; k++) {
        index[k] = 4 * (k + 1);
        edges[4 * k] = edges[4 * k + 2] = (k + 1) % size;
        edges[4 * k + 1] = edges[4 * k + 3] = (k + size - 1) % size;
    }
    MPI_Comm g;
    MPI_Graph_create(MPI_COMM_WORLD, size, index, edges, 0, &g);
    int topo, nnodes, nedges, count, nb[4], gi[64], ge[256];
    MPI_Topo_test(g, &topo);
    MPI_Graphdims_get(g, &nnodes, &nedges);
    MPI_Graph_neighbors_count(g, rank, &count);
    MPI_Graph_neighbors(g, rank, 4, nb);
    MPI_Graph_get(g, size, 4 * size, gi, ge);
    int mine[2] = {rank * 10, rank * 10 + 1}, ag[8] = {0};
    MPI_Neighbor_allgather(mine, 2, MPI_INT, ag, 2, MPI_INT, g);
    int out[4], in[4] = {0};
    for (int k = 0; k < 4; k++)
        out[k] = rank * 100 + k;
    MPI_Request r;
    MPI_Ineighbor_alltoall(out, 1, MPI_INT, in, 1, MPI_INT, g, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    MPI_Comm gdup;
    MPI_Comm_dup(g, &gdup);
    int duptopo;
    MPI_Topo_test(gdup, &duptopo);

    /* A distributed graph: from the left and from itself, to the right and
     * to itself, weighted. */
    int srcs[2] = {left, rank}, dsts[2] = {right, rank}, sw[2] = {1, 2}, dw[2] = {3, 4};
    MPI_Comm dg;
    MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, srcs, sw, 2, dsts, dw, MPI_INFO_NULL, 0,
                                   &dg);
    int indeg, outdeg, weighted, s2[2], w2[2], d2[2], dw2[2];
    MPI_Dist_graph_neighbors_count(dg, &indeg, &outdeg, &weighted);
    MPI_Dist_graph_neighbors(dg, 2, s2, w2, 2, d2, dw2);
    int dtopo;
    MPI_Topo_test(dg, &dtopo);
    int vcounts[2] = {2, 2}, vdispls[2] = {2, 0}, agv[4] = {0};
    MPI_Neighbor_allgatherv(mine, 2, MPI_INT, agv, vcounts, vdispls, MPI_INT, dg);
    /* One int to the right, two to itself; as many from the left and from
     * itself. */
    int sc[2] = {1, 2}, sd[2] = {0, 1}, rc[2] = {1, 2}, rd[2] = {2, 0}, a2v[3] = {0};
    int send3[3] = {rank + 1, rank + 2, rank + 3};
    MPI_Neighbor_alltoallv(send3, sc, sd, MPI_INT, a2v, rc, rd, MPI_INT, dg);
    MPI_Aint wsd[2] = {0, sizeof(int)}, wrd[2] = {0, sizeof(int)};
    MPI_Datatype wt[2] = {MPI_INT, MPI_INT};
    int wsc[2] = {1, 1}, wrc[2] = {1, 1}, a2w[2] = {0};
    MPI_Neighbor_alltoallw(send3, wsc, wsd, wt, a2w, wrc, wrd, wt, dg);

    /* A 2-D grid without wrap-around: edge ranks miss neighbours. */
    int dims[2] = {0, 0}, periods[2] = {0, 0};
    MPI_Dims_create(size, 2, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
    int cout[4], cin[4] = {-1, -1, -1, -1}, cag[4] = {-1, -1, -1, -1};
    for (int k = 0; k < 4; k++)
        cout[k] = rank * 1000 + k;
    MPI_Neighbor_alltoall(cout, 1, MPI_INT, cin, 1, MPI_INT, cart);
    MPI_Neighbor_allgather(&rank, 1, MPI_INT, cag, 1, MPI_INT, cart);
    /* A ring: with one or two ranks, both neighbours are the same rank. */
    int one = size, ring_periods = 1, rout[2] = {rank * 10 + 1, rank * 10 + 2}, rin[2] = {0};
    MPI_Comm ring;
    MPI_Cart_create(MPI_COMM_WORLD, 1, &one, &ring_periods, 0, &ring);
    MPI_Neighbor_alltoall(rout, 1, MPI_INT, rin, 1, MPI_INT, ring);
    MPI_Comm_free(&ring);

    printf("rank %d: graph topo %d nodes %d edges %d count %d neighbors %d %d %d %d get %ld %ld "
           "allgather %ld alltoall %d %d %d %d dup %d dist topo %d in %d out %d weighted %d "
           "sources %d %d w %d %d dests %d %d w %d %d allgatherv %ld alltoallv %d %d %d "
           "alltoallw %d %d cart in %d %d %d %d allgather %d %d %d %d ring %d %d\n",
           rank, topo, nnodes, nedges, count, nb[0], nb[1], nb[2], nb[3], sum_of(gi, size),
           sum_of(ge, 4 * size), sum_of(ag, 8), in[0], in[1], in[2], in[3], duptopo, dtopo, indeg,
           outdeg, weighted, s2[0], s2[1], w2[0], w2[1], d2[0], d2[1], dw2[0], dw2[1],
           sum_of(agv, 4), a2v[0], a2v[1], a2v[2], a2w[0], a2w[1], cin[0], cin[1], cin[2],
           cin[3], cag[0], cag[1], cag[2], cag[3], rin[0], rin[1]);
    MPI_Comm_free(&cart);
    MPI_Comm_free(&dg);
    MPI_Comm_free(&gdup);
    MPI_Comm_free(&g);
    MPI_Finalize();
    return 0;
}
