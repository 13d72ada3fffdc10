// Next.js's proxy (its middleware, on the Node.js runtime), for API paths with a '%' in them
// only (the matcher reads the path as sent): no other request runs it, so it costs them
// nothing. Next decodes a route's path segments before its handler runs, and answers a path it
// cannot decode (a '%' that starts no escape, an escape that is not UTF-8: /api/%ZZ,
// /edge/api/%FF) with its own plain-text 500, which the edge function never sees. Those are
// answered here as the function answers them under npm start: its JSON 400 naming the problem.
// Every other request goes on to the routes untouched.
import { NextResponse } from 'next/server';
import { refusedPath } from '@quantum-voice/edge/edge-function';

export function proxy(request) {
  const { pathname } = new URL(request.url);
  try {
    decodeURIComponent(pathname);
    return NextResponse.next();
  } catch {
    return refusedPath(pathname.startsWith('/edge/') ? pathname.slice('/edge'.length) : pathname) ?? NextResponse.next();
  }
}

export const config = { matcher: ['/api/:path(.*%.*)', '/edge/api/:path(.*%.*)'] };
