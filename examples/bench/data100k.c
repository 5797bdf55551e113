/* weaves bench beads: a module with 100 KiB of initialised data. */
char table[100 * 1024] = {1};
int counter;

int bump(void)
{
    table[counter % sizeof table]++;
    return ++counter;
}
