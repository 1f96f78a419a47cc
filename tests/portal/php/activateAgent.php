<?php
$ch=curl_init();
curl_setopt_array($ch, array(
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_URL => 'https://www.backuprun.com/api.php',
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => array(
        'apiCALL' => 'activateAgent',
        'location' => '527',
       'name' => 'servername',
       'agent' => '123.123.123.123',
       'agent_port' => '1167',
       'agent-id' => '662',
       'encrypt' => '1',
       'password' => 'password'
   )
));
$r=curl_exec($ch);
if($r === false)die('error!');
?>
