/* A program embedding CPython (libpython3.11, a system library): argv NAME
 * N. Its script imports extension modules the system installs in
 * lib-dynload (_bz2, _codecs_cn through the gbk codec, _json), keeps a
 * count in the interpreter's sys module, and ends with status N % 5, so
 * each copy's output and status depend on its own input. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>

static const char script[] =
    "import sys, _bz2, _json\n"
    "c = _bz2.BZ2Compressor(9)\n"
    "packed = c.compress((name + ' ').encode() * n) + c.flush()\n"
    "back = _bz2.BZ2Decompressor().decompress(packed).decode()\n"
    "sys.count = getattr(sys, 'count', 0) + n\n"
    "print(name, 'bz2 round trip', back.count(name), 'gbk', '\\u4e2d'.encode('gbk').hex(),\n"
    "      'json', _json.encode_basestring_ascii(name), 'count', sys.count)\n";

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: py_host NAME N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    Py_Initialize();
    PyObject *globals = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyObject *name = PyUnicode_FromString(argv[1]);
    PyDict_SetItemString(globals, "name", name);
    Py_DECREF(name);
    PyObject *count = PyLong_FromLong(n);
    PyDict_SetItemString(globals, "n", count);
    Py_DECREF(count);
    int failed = PyRun_SimpleString(script);
    if (Py_FinalizeEx() < 0)
        failed = 1;
    return failed ? 1 : n % 5;
}
