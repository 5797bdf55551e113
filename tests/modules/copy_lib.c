/* Variables a PIE executable uses directly: the executable gets COPY
 * relocations for them, and its copies become the variables. */
int counter = 5;
const char *msg = "hello";

void bump(void)
{
    counter++; /* through the GOT: must land in the executable's copy */
}
