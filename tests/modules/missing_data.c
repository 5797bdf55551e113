/* missing_data.so: reads a variable that no bead and no library defines.
 * A variable, unlike a function, cannot be bound lazily: loading a bead of
 * this module fails, naming it (however `[tapestry] bind` is set). */
extern int no_such_variable;

int missing_data_main(int argc, char **argv)
{
    (void)argv;
    return no_such_variable + argc;
}
