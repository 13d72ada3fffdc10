// The demo data set: what the platform's API and database would answer behind the edge,
// with seeded data for the demo organisations. It is served by the demo regional origins
// (edge/regional-origins.mjs): one data set, four regional instances, started by
// `npm start`. The edge names the organisation in the x-qv-organization-id header it sets
// on every proxied request. The origin trusts that header only on a request that carries
// the origin secret (x-qv-origin-secret, QV_ORIGIN_SECRET), which the regional origins check
// before they ask the data set: anyone who can reach an origin can set the header too.
//
//   GET /api/campaigns                  the organisation's campaigns
//   GET /api/leads?campaignId=&page=    its leads, 20 per page
//   GET /api/dashboard/metrics          calls, leads and conversion per campaign
//   GET /api/analytics/overview         totals and a 7-day series
//   GET /api/knowledge/search?q=        knowledge-base articles matching q
//
// Answers carry Cache-Control (max-age, stale-while-revalidate, stale-if-error), a strong
// ETag of the body (the regional origins answer a matching If-None-Match with 304) and
// Surrogate-Key tags by the conventions of modules/cache (<table>, <table>:list,
// <table>:<id>, campaigns:<id>:leads|analytics|calls, an id written as tagId writes it), so
// the edge cache keeps them and database changes invalidate exactly what they touch.

import { createHash } from 'node:crypto';

const ORGANIZATIONS = ['org_startup', 'org_growth', 'org_enterprise'];
const PAGE_SIZE = 20;
const CACHE_CONTROL = 'public, max-age=60, stale-while-revalidate=30, stale-if-error=300';

/** The header naming the organisation whose data is asked for (set by the edge's proxy). */
export const ORGANIZATION_HEADER = 'x-qv-organization-id';

/** The paths the data set answers (GET). */
export const DATA_PATHS = Object.freeze(['/api/campaigns', '/api/leads', '/api/dashboard/metrics', '/api/analytics/overview', '/api/knowledge/search']);

// Deterministic data: the same seed gives the same organisations every start.
function seed() {
  const data = new Map();
  const names = ['Spring renewal', 'Webinar follow-up', 'Churn save', 'Upsell Q3', 'Trial nurture', 'Win-back'];
  const firstNames = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Tim'];
  const topics = [
    ['Pricing and plans', 'Startup, Growth and Enterprise tiers: limits, prices and what each includes.'],
    ['Call recording consent', 'How recorded calls announce consent, and how to disable recording per campaign.'],
    ['Voicemail detection', 'The agent detects voicemail within two seconds and leaves the campaign message.'],
    ['CRM integrations', 'Sync leads and call outcomes with HubSpot, Salesforce and Asana.'],
    ['Business hours', 'Campaigns call only within the lead\'s local business hours.'],
    ['Transfer to a human', 'Warm transfer hands the caller to an agent with the transcript so far.'],
  ];
  ORGANIZATIONS.forEach((org, o) => {
    const campaigns = names.slice(0, 3 + o).map((name, c) => ({
      id: `${org}_c${c + 1}`, organization_id: org, name, status: c % 3 === 2 ? 'paused' : 'active',
      created_at: `2025-0${1 + c}-1${o}T09:00:00Z`,
    }));
    const leads = [];
    for (let i = 0; i < 30 * (o + 1); i++) {
      const campaign = campaigns[i % campaigns.length];
      leads.push({
        id: `${org}_l${i + 1}`, organization_id: org, campaign_id: campaign.id,
        name: `${firstNames[i % firstNames.length]} ${String.fromCharCode(65 + (i % 26))}.`,
        status: ['new', 'contacted', 'qualified', 'converted'][i % 4], score: (i * 37) % 100,
      });
    }
    const articles = topics.map(([title, body], a) => ({ id: `${org}_k${a + 1}`, title, body }));
    data.set(org, { campaigns, leads, articles });
  });
  return data;
}

// A row id as a tag names it (modules/cache's convention): '%', ':', space and ',' as %25,
// %3A, %20 and %2C, and the id `list` as %6Cist, so no id reads as another tag or splits in the
// header. The demo's ids are all plain, and come out as they are.
const TAG_ID_ESCAPES = { '%': '%25', ':': '%3A', ' ': '%20', ',': '%2C' };
function tagId(id) {
  const text = String(id).replace(/[%: ,]/g, (c) => TAG_ID_ESCAPES[c]);
  return text === 'list' ? '%6Cist' : text;
}

function tags(...lists) {
  return [...new Set(lists.flat())].join(' ');
}

function metrics(org) {
  return org.campaigns.map((campaign) => {
    const leads = org.leads.filter((lead) => lead.campaign_id === campaign.id);
    const converted = leads.filter((lead) => lead.status === 'converted').length;
    return { campaignId: campaign.id, leads: leads.length, calls: leads.length * 3, converted, conversion: leads.length ? converted / leads.length : 0 };
  });
}

// The answer to one GET: {status, body, tags}.
function answer(data, organization, url) {
  const org = data.get(organization);
  if (!org) return { status: 404, body: { error: 'not_found', message: `${ORGANIZATION_HEADER}: unknown organisation '${organization}'` } };
  const params = url.searchParams;
  const campaignTags = (suffix) => org.campaigns.map((c) => `campaigns:${tagId(c.id)}:${suffix}`);
  // The aggregates count the leads by status: they contain every lead row, so a lead's
  // UPDATE (the 'single' strategy, leads:<id>) reaches them.
  const leadTags = org.leads.map((lead) => `leads:${tagId(lead.id)}`);
  switch (url.pathname) {
    case '/api/campaigns':
      return {
        status: 200, body: { campaigns: org.campaigns },
        tags: tags('campaigns', 'campaigns:list', org.campaigns.map((c) => `campaigns:${tagId(c.id)}`)),
      };
    case '/api/leads': {
      const campaignId = params.get('campaignId');
      const page = Number(params.get('page') ?? 1);
      if (!Number.isInteger(page) || page < 1) return { status: 400, body: { error: 'invalid_input', message: `page: expected a positive integer, got '${params.get('page')}'` } };
      const matching = campaignId ? org.leads.filter((lead) => lead.campaign_id === campaignId) : org.leads;
      const leads = matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
      return {
        status: 200, body: { leads, page, pageSize: PAGE_SIZE, total: matching.length },
        tags: tags('leads', 'leads:list', leads.map((l) => `leads:${tagId(l.id)}`),
          campaignId ? [`campaigns:${tagId(campaignId)}:leads`] : campaignTags('leads')),
      };
    }
    case '/api/dashboard/metrics':
      return {
        status: 200, body: { campaigns: metrics(org) },
        tags: tags('dashboard', 'campaigns:list', campaignTags('leads'), campaignTags('analytics'), campaignTags('calls'), leadTags),
      };
    case '/api/analytics/overview': {
      const all = metrics(org);
      const totals = all.reduce((sum, m) => ({ leads: sum.leads + m.leads, calls: sum.calls + m.calls, converted: sum.converted + m.converted }), { leads: 0, calls: 0, converted: 0 });
      const series = Array.from({ length: 7 }, (_, d) => ({ day: d, calls: Math.round(totals.calls / 7 + ((d * 13) % 5)) }));
      return {
        status: 200, body: { totals, conversion: totals.leads ? totals.converted / totals.leads : 0, series },
        tags: tags('analytics', campaignTags('analytics'), campaignTags('calls'), campaignTags('transcripts'), leadTags),
      };
    }
    case '/api/knowledge/search': {
      const q = (params.get('q') ?? '').trim().toLowerCase();
      if (!q) return { status: 400, body: { error: 'invalid_input', message: 'q: a search text is required' } };
      const articles = org.articles.filter((a) => `${a.title} ${a.body}`.toLowerCase().includes(q));
      return {
        status: 200, body: { q, articles },
        tags: tags('knowledge_base', 'knowledge_base:list', articles.map((a) => `knowledge_base:${tagId(a.id)}`)),
      };
    }
    default:
      return { status: 404, body: { error: 'not_found', message: `no route for GET ${url.pathname}` } };
  }
}

/**
 * The seeded data set. Its answer(method, url, organization) is {status, json, headers}
 * (json: the body as JSON text, which the ETag is of) for a GET of one of DATA_PATHS (url:
 * a URL), else null: the path is not the data set's.
 */
export function createDemoData() {
  const data = seed();
  return {
    answer(method, url, organization) {
      if (method !== 'GET' || !DATA_PATHS.includes(url.pathname)) return null;
      if (!organization) {
        const json = JSON.stringify({ error: 'invalid_input', message: `${ORGANIZATION_HEADER}: the edge must name the organisation` });
        return { status: 400, json, headers: { 'cache-control': 'no-store' } };
      }
      const { status, body, tags: surrogateKeys } = answer(data, organization, url);
      const json = JSON.stringify(body);
      if (status !== 200) return { status, json, headers: { 'cache-control': 'no-store' } };
      const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 22)}"`;
      return { status, json, headers: { 'cache-control': CACHE_CONTROL, etag, 'surrogate-key': surrogateKeys } };
    },
  };
}
