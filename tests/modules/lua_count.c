/* A Lua C extension module, built as Lua modules are: against the headers
 * only, its lua_* / luaL_* imports left to whoever loads it (the
 * interpreter of the program that opens it). It keeps a static count of
 * its calls, so two interpreters sharing one copy would see each other's. */
#include <lauxlib.h>
#include <lua.h>

static lua_Integer calls;

/* count.sum(a, b, ...) -> the sum, and how many calls this copy has had. */
static int sum(lua_State *L) {
  int n = lua_gettop(L);
  lua_Integer s = 0;
  for (int i = 1; i <= n; i++)
    s += luaL_checkinteger(L, i);
  calls++;
  lua_pushinteger(L, s);
  lua_pushinteger(L, calls);
  return 2;
}

/* count.fail(msg): raises a Lua error from C. */
static int fail(lua_State *L) {
  return luaL_error(L, "lua_count: %s", luaL_checkstring(L, 1));
}

static const luaL_Reg functions[] = {{"sum", sum}, {"fail", fail}, {NULL, NULL}};

int luaopen_lua_count(lua_State *L) {
  luaL_newlib(L, functions);
  return 1;
}
