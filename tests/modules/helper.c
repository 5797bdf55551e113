/* A private library: linked by uses_helper.so through DT_NEEDED, found
 * beside it ($ORIGIN run path). Its global must be private to each bead of
 * uses_helper unless the tapestry declares a shared bead of it. */
int helper_calls = 0;

int helper_bump(void)
{
    return ++helper_calls;
}
