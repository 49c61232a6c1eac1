// The guide's JavaScript CRMApi client, unchanged except that the bearer
// token is added to every call, run against a live crm-server.
// Driven by tests/node_client.rs, which starts the server and sets
// CRM_URL, CRM_EMAIL and CRM_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';

class CRMApi {
    constructor(baseUrl, token) {
        this.baseUrl = baseUrl;
        this.token = token;
    }

    getAuthToken() {
        return this.token;
    }

    async getCustomers(page = 1, limit = 20, filters = {}) {
        const params = new URLSearchParams({
            page: page,
            limit: limit,
            ...filters
        });

        const response = await fetch(`${this.baseUrl}/api/customers?${params}`, {
            headers: { 'Authorization': `Bearer ${this.getAuthToken()}` }
        });
        return response.json();
    }

    async createCustomer(customerData) {
        const response = await fetch(`${this.baseUrl}/api/customers`, {
            method: 'POST',
            headers: {
                'Content-Type': 'application/json',
                'Authorization': `Bearer ${this.getAuthToken()}`
            },
            body: JSON.stringify(customerData)
        });

        return response.json();
    }

    async getCustomerAnalytics(customerId) {
        const response = await fetch(`${this.baseUrl}/api/customers/${customerId}/analytics`, {
            headers: { 'Authorization': `Bearer ${this.getAuthToken()}` }
        });
        return response.json();
    }
}

const baseUrl = process.env.CRM_URL;

async function login() {
    const response = await fetch(`${baseUrl}/api/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: process.env.CRM_EMAIL, password: process.env.CRM_PASSWORD })
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.ok(body.data.token);
    return body.data.token;
}

test('the guide client works against the server', async () => {
    const api = new CRMApi(baseUrl, await login());

    const created = await api.createCustomer({
        name: 'API Test Customer',
        email: 'api@test.com',
        customer_type: 'RETAIL'
    });
    assert.equal(created.success, true, JSON.stringify(created));
    assert.ok(created.data.id, 'data.id');
    assert.equal(created.data.customer_code.slice(0, 2), 'RT');

    // A search answers its page without counting every match ...
    const list = await api.getCustomers(1, 20, { q: 'API Test' });
    assert.equal(list.success, true, JSON.stringify(list));
    assert.equal(list.data[0].id, created.data.id);
    assert.equal('total' in list.meta, false, JSON.stringify(list.meta));
    assert.equal(list.meta.next_cursor, null);
    // ... unless asked; an unsearched offset page counts by default.
    const counted = await api.getCustomers(1, 20, { q: 'API Test', count: 'true' });
    assert.equal(counted.meta.total, 1, JSON.stringify(counted.meta));
    const all = await api.getCustomers(1, 20);
    assert.ok(all.meta.total >= 1, JSON.stringify(all.meta));

    const analytics = await api.getCustomerAnalytics(created.data.id);
    assert.equal(analytics.success, true, JSON.stringify(analytics));
    assert.ok('segment' in analytics.data);
    assert.ok('lifetime_value' in analytics.data);
});

test('without a token the API answers 401 in the envelope', async () => {
    const response = await fetch(`${baseUrl}/api/customers`);
    assert.equal(response.status, 401);
    const body = await response.json();
    assert.equal(body.success, false);
    assert.equal(body.error.code, 'unauthorized');
});
