/* A library with a reference nothing defines: dlopen(RTLD_NOW) refuses it. */
extern int dl_no_such_symbol_anywhere(void);

int bad_entry(void) { return dl_no_such_symbol_anywhere(); }
