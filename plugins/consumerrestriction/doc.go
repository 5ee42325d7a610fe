// Package consumerrestriction is APISIX's consumer-restriction: it admits or refuses a
// request by who made it (consumer_name, consumer_group_id) or where it goes (route_id,
// service_id), and can restrict a consumer to some methods. Priority 2400, phase access,
// so it runs after the auth plugins identified the consumer.
//
// Bad input: none of whitelist, blacklist and allowed_by_methods, an empty list, an
// unknown type or method, or a rejected_code outside 200–999 is refused when written. A
// request with no value for the type (no consumer, no service) gets 401
// {"message":"The request is rejected, please check the <type> for this request"}; a
// refused one gets rejected_code (403) with {"message":"The <type> is forbidden."} or
// {"message": rejected_msg}.
package consumerrestriction
