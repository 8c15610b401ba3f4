DROP TABLE rejected_payments;
DROP TABLE payments;
