/* missing.so: imports two functions that no bead and no library defines.
 *
 * Entry: int missing_main(int argc, char **argv) — never reached: loading a
 * bead of this module must fail, naming both symbols. */
int no_such_fn_a(int);
int no_such_fn_b(int);

int missing_main(int argc, char **argv) {
    (void)argv;
    return no_such_fn_a(argc) + no_such_fn_b(argc);
}
