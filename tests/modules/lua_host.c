/* A program embedding the Lua interpreter (liblua5.4, a system library):
 * argv: NAME N DIR. Its script loads the C extension DIR/lua_count.so
 * twice (package.loadlib, then require through package.cpath), sums
 * 1..N through it, then requires the system's cjson module (lua-cjson,
 * installed in /usr/lib/x86_64-linux-gnu/lua/5.4), and ends with status
 * N % 7 (the script's return value), so each copy's output and status
 * depend on its own input. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

static const char script[] =
    "local name, n, dir = ...\n"
    "n = math.tointeger(tonumber(n))\n"
    "local open = assert(package.loadlib(dir .. '/lua_count.so', 'luaopen_lua_count'))\n"
    "local count = open()\n"
    "local s, calls = 0, 0\n"
    "for i = 1, n do s, calls = count.sum(s, i) end\n"
    "print(string.format('%s: sum 1..%d = %d after %d calls', name, n, s, calls))\n"
    "local system_cpath = package.cpath\n"
    "package.cpath = dir .. '/?.so'\n"
    "local again = require 'lua_count'\n"
    "local t, c = again.sum(n, n)\n"
    "print(string.format('%s: required copy says %d after %d calls', name, t, c))\n"
    "local ok, err = pcall(again.fail, name)\n"
    "print(string.format('%s: pcall -> %s, %s', name, tostring(ok), err))\n"
    "local missing, why, where = package.loadlib(dir .. '/lua_count.so', 'luaopen_nothing')\n"
    "print(string.format('%s: missing entry -> %s (%s)', name, tostring(missing), where))\n"
    "package.cpath = system_cpath\n"
    "local ok, cjson = pcall(require, 'cjson')\n"
    "if ok then\n"
    "  local back = cjson.decode(cjson.encode({name, n, s}))\n"
    "  print(string.format('%s: cjson %s, back %s %d', name, cjson.encode({name, n, s}), back[1], back[3]))\n"
    "else\n"
    "  print(string.format('%s: no cjson: %s', name, cjson))\n"
    "end\n"
    "return n % 7\n";

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s NAME N DIR\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_loadstring(L, script) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  for (int i = 1; i < 4; i++)
    lua_pushstring(L, argv[i]);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  int status = (int)lua_tointeger(L, -1);
  lua_close(L);
  fflush(stdout);
  return status;
}
