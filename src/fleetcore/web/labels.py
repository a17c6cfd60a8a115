"""The labels the console shows for codes, listed so that extraction puts them in the catalogues.

A status or kind is stored as a code (``in_maintenance``) and shown through the ``label``
filter (:func:`fleetcore.web.rendering.label`), which translates its English label at render
time; a problem's title is translated the same way on error pages. ``pybabel extract`` cannot
see those strings, so they are listed here (a test checks the list covers every ``StrEnum``
value and every problem title of the code).
"""

from __future__ import annotations

from fleetcore.web.i18n import N_, NC_

CODE_LABELS = (
    N_('Accident'), N_('Achieved'), N_('Acquisition'), N_('Activated'), N_('Active'),
    N_('Active drivers'), N_('Active vehicles'), N_('Adjustment'), N_('Advance'),
    N_('Advance payment'), N_('Approved'), N_('Archived'), N_('Assigned'), N_('Bank'), N_('Base'),
    N_('Blocked'), N_('Bolt orders'), N_('Bolt weekly'), N_('Bonus'), N_('Bounce'), N_('Brakes'),
    N_('Cancel'), N_('Cancelled'), N_('Cancelled by driver'), N_('Cancelled by rider'),
    N_('Card'), N_('Carry over'), N_('Cash'), N_('Cash collected'), N_('Cash mismatch'),
    N_('Chatwoot'), N_('Clerk'), N_('Closed'), N_('Closed lost'), N_('Closed won'), N_('Cng'),
    N_('Commission'), N_('Commission mismatch'), N_('Committed'), N_('Company card'),
    N_('Complaint'), N_('Completed'), N_('Conduct'), N_('Confirmed'), N_('Contacted'),
    N_('Contest'), N_('Contested'), N_('Contract'), N_('Converted'), N_('Created'), N_('Credit'),
    N_('Credit note'), N_('Critical'), N_('Csat'), N_('Damage'), N_('Day'), N_('Debit'),
    N_('Demo'), N_('Deposit'), N_('Designate'), N_('Detached'), N_('Development'), N_('Diesel'),
    N_('Discount'), N_('Disposal'), N_('Disputed'), N_('Disqualified'), N_('Distance'),
    N_('Distance km'), N_('Document'), N_('Document verification'), N_('Documents'), N_('Done'),
    N_('Draft'), N_('Driver'), N_('Driver balance'), N_('Driver deposit'),
    N_('Driver designated'), N_('Driver licence'), N_('Driver owned'), N_('Driver paid'),
    N_('Driver request'), N_('Driver training'), N_('Dropoff far'), N_('Due soon'),
    N_('Electric'), N_('Email'), N_('En'), N_('Ended'), N_('Equity'), N_('Expense'),
    N_('Expired'), N_('External'), N_('Fail'), N_('Failed'), N_('Fare mismatch'), N_('Financed'),
    N_('Fine'), N_('Fixed rent'), N_('Fleet'), N_('Fleet share'), N_('Fr'), N_('Fraud'),
    N_('Freescout'), N_('Fuel'), N_('Fuel card'), N_('Geofence'), N_('Global'), N_('Gps'),
    N_('Handover'), N_('High'), N_('Hybrid'), N_('Hydrogen'), N_('Id card'), N_('Ignored'),
    N_('Import'), N_('Import row'), N_('In app'), N_('In maintenance'), N_('In progress'),
    N_('Inactive'), N_('Info'), N_('Inspection'), N_('Inspection report'), N_('Insurance'),
    N_('Insurance certificate'), N_('Insurance change'), N_('Integration'), N_('Invited'),
    N_('Invoice'), N_('Issued'), N_('Kg'), N_('Kwh'), N_('Leased'), N_('Leave'),
    N_('Licence plate'), N_('Licence renewal'), N_('Lifted'), N_('Litre'), N_('Local'), N_('Low'),
    N_('Lpg'), N_('Maintenance'), N_('Maintenance schedule'), N_('Mandatory'), N_('Manual'),
    N_('Medium'), N_('Member'), N_('Missed'), N_('Missing internal'), N_('Missing platform'),
    N_('Monthly'), N_('Name'), N_('Negotiation'), N_('Net'), N_('New'), N_('No show'),
    N_('Normal'), N_('Not applicable'), N_('Nps'), N_('Oil change'), N_('Ok'), N_('Onboarding'),
    N_('One off'), N_('Open'), N_('Optional'), N_('Other'), N_('Overage'), N_('Overdue'),
    N_('Overspeed'), N_('Owed by driver'), N_('Owed to driver'), N_('Owned'), N_('Paid'),
    N_('Parking'), N_('Partially failed'), N_('Pass'), N_('Past due'), N_('Paused'), N_('Pay'),
    N_('Payment'), N_('Payment batch'), N_('Payments driver'), N_('Payments order'), N_('Payout'),
    N_('Payout review'), N_('Pco'), N_('Pending'), N_('Period start'), N_('Permanent'),
    N_('Petrol'), N_('Phone'), N_('Pickup far'), N_('Plan changed'), N_('Planned'),
    N_('Platform'), N_('Platform account'), N_('Platform earning'), N_('Platform receivable'),
    N_('Plug in hybrid'), N_('Private'), N_('Processed'), N_('Processing'), N_('Production'),
    N_('Professional card'), N_('Promotion'), N_('Proposal'), N_('Proration'), N_('Prospecting'),
    N_('Provider employee'), N_('Provisional'), N_('Qualified'), N_('Quarterly'), N_('Rating'),
    N_('Reactivated'), N_('Receipt'), N_('Received'), N_('Recharge'), N_('Recharged'),
    N_('Reconciled'), N_('Reconciliation'), N_('Reconnecting'), N_('Registration'),
    N_('Reimbursement'), N_('Rejected'), N_('Rent'), N_('Rented'), N_('Repair'), N_('Request'),
    N_('Required'), N_('Resend'), N_('Resolved'), N_('Retired'), N_('Revenue'),
    N_('Revenue import'), N_('Revenue share'), N_('Reversal'), N_('Rolled back'), N_('Running'),
    N_('Safety'), N_('Salaried'), N_('Scheduled'), N_('Sent'), N_('Sepa debit'),
    N_('Sepa transfer'), N_('Service'), N_('Session'), N_('Settled'), N_('Settlement'),
    N_('Shift'), N_('Shift change'), N_('Signed'), N_('Sold'), N_('Starting'), N_('Stopped'),
    N_('Stripe'), N_('Stripe connect'), N_('Subscription charge'), N_('Supabase'),
    N_('Suppressed'), N_('Suspended'), N_('Suspense'), N_('System'), N_('Tax'), N_('Taxi'),
    N_('Temporary'), N_('Tenant'), N_('Term'), N_('Terminated'), N_('Test'), N_('Tip'),
    N_('Toll'), N_('Toll refund'), N_('Toll transaction'), N_('Traccar'), N_('Traffic fine'),
    N_('Transaction'), N_('Transfer'), N_('Trial started'), N_('Trialing'), N_('Trip'),
    N_('Trip activity'), N_('Trip not moving'), N_('Trips'), N_('Tvde'), N_('Tyres'),
    N_('Unassigned'), N_('Uncollectible'), N_('Unconfigured'), N_('Under review'), N_('Unlinked'),
    N_('Uploaded'), N_('Urgent'), N_('Use outside shift'), N_('Utilisation'), N_('Uuid'),
    N_('Validated'), N_('Validating'), N_('Vehicle'), N_('Vehicle assignment'),
    N_('Vehicle change'), N_('Vehicle expense'), N_('Vehicle inspection'),
    N_('Vehicle insurance'), N_('Vehicle maintenance'), N_('Verified'), N_('Void'), N_('Vtc'),
    N_('Wallet'), N_('Warning'), N_('Wash'), N_('Week'), N_('Year'), N_('Yearly'),
)
"""The label of every ``StrEnum`` value, as :func:`fleetcore.web.rendering.label` writes it."""

PROBLEM_TITLES = (
    N_('A second approver is required'), N_('Authentication required'), N_('Bad link'),
    N_('Bad request'), N_('Compliance rules fail'), N_('Conflict'), N_('Drivers only'),
    N_('Fleetcore staff only'), N_('If-Match required'), N_('Missing permission'),
    N_('Nobody had the vehicle then'), N_('Not a member of this organisation'), N_('Not allowed'),
    N_('Not found'), N_('Open a tenant first'), N_('Service unavailable'),
    N_('Stripe Connect is not configured'), N_('The assignment overlaps another one'),
    N_('The download link is not valid'), N_('The driver cannot work in this period'),
    N_('The form could not be verified'), N_('The policy overlaps another active policy'),
    N_('The report cannot be read'), N_('The report file is too large'),
    N_('The request body is too large'), N_('The request is already decided'),
    N_('The request is not valid'), N_('The resource has changed'),
    N_('The session token has expired'), N_('The session token is not valid'),
    N_('The upload is too large'), N_('The webhook body is not valid'),
    N_('The webhook delivery is not valid'), N_('The webhook signature is not valid'),
    N_('These transactions were just imported'), N_('This fleet is suspended: read-only'),
    N_("This fleet's subscription is cancelled"), N_('This membership is suspended'),
    N_('This report was already imported'), N_('This status change is not allowed'),
)
"""The title of every problem, shown as the heading of an error page."""

CODE_ONLY_LABELS = (NC_("code", "Open"), NC_("code", "Import"))
"""Labels whose English word is also a button's or a heading's (*Open* the status, *Open* the
button): their translation as a code has the context ``code``, which :func:`label` prefers."""
